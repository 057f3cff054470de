"""Readers for the files breeders have: VCF (scikit-allel), PLINK .bed/.bim/.fam, phenotype CSV.

Policies (each recorded in the dataset's notes and provenance, never silent):
- sites with more than one ALT allele (multiallelic) are dropped;
- missing genotype calls are imputed with the SNP's mean dosage over all
  genotyped individuals (genotypes only: no phenotype is used);
- individuals without a phenotype (absent from the CSV, or NaN) are dropped;
  phenotype rows without genotypes are ignored. No overlap at all is an error;
- a trait missing for everyone, or one value throughout (a .fam phenotype
  column left at plink's default 0 or -9), is refused: no model can be
  scored on it.
Anything unreadable (not a VCF, a truncated .bed, a .bim/.fam that does not
match it) is one `DataError` line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from assay.kit import DataError, require_varying_target

PLINK_MAGIC = b"\x6c\x1b\x01"
"""A SNP-major PLINK 1 .bed starts with these three bytes."""


@dataclass
class Genotypes:
    samples: list[str]
    dosages: npt.NDArray[np.float32]
    """individuals x SNPs, allele dosages 0..2, NaN where the call is missing."""
    notes: list[str] = field(default_factory=list)
    fam_phenotype: npt.NDArray[np.float64] | None = None


def read_vcf(path: Path) -> Genotypes:
    """Biallelic SNP dosages (count of ALT alleles) from a VCF or bgzipped VCF."""
    import allel

    try:
        data = allel.read_vcf(
            str(path), fields=["samples", "calldata/GT", "variants/numalt"], alt_number=1
        )
    except Exception as exc:  # scikit-allel raises many kinds on a malformed file
        raise DataError(f"{path.name}: not a readable VCF ({type(exc).__name__}: {exc})") from None
    if data is None or "calldata/GT" not in data:
        raise DataError(f"{path.name}: the VCF has no genotype calls (no samples or no variants)")
    gt = np.asarray(data["calldata/GT"])  # variants x samples x ploidy; -1 = missing
    numalt = np.asarray(data["variants/numalt"])
    notes = []
    biallelic = numalt == 1
    if not biallelic.all():
        notes.append(f"dropped {int((~biallelic).sum())} sites that are not biallelic")
    gt = gt[biallelic]
    if gt.shape[0] == 0:
        raise DataError(f"{path.name}: no biallelic sites")
    missing = (gt < 0).any(axis=2)
    dosage = (gt == 1).sum(axis=2).astype(np.float32)
    dosage[missing] = np.nan
    return Genotypes([str(s) for s in data["samples"]], dosage.T.copy(), notes)


def read_plink(bed: Path) -> Genotypes:
    """Dosages from a PLINK 1 .bed with its .bim and .fam (bed-reader; allele 1 counted)."""
    bim, fam = bed.with_suffix(".bim"), bed.with_suffix(".fam")
    for companion in (bim, fam):
        if not companion.is_file():
            raise DataError(f"{bed.name}: the PLINK set needs {companion.name} beside it")
    try:
        fam_table = pd.read_csv(fam, sep=r"\s+", header=None, dtype=str)
        n_snps = sum(1 for line in bim.open(encoding="utf-8") if line.strip())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{fam.name}/{bim.name}: not readable ({exc})") from None
    if fam_table.shape[1] < 6:
        raise DataError(f"{fam.name}: expected 6 columns (FID IID father mother sex phenotype)")
    n_individuals = len(fam_table)
    with bed.open("rb") as handle:
        magic = handle.read(3)
    if magic != PLINK_MAGIC:
        raise DataError(f"{bed.name}: not a SNP-major PLINK .bed (wrong magic bytes)")
    expected = 3 + n_snps * ((n_individuals + 3) // 4)
    size = bed.stat().st_size
    if size != expected:
        raise DataError(
            f"{bed.name}: {size} bytes, but {n_snps} SNPs x {n_individuals} individuals "
            f"need {expected} (truncated, or .bim/.fam from another set)"
        )
    from bed_reader import open_bed

    try:
        with open_bed(bed, iid_count=n_individuals, sid_count=n_snps) as reader:
            dosage = np.asarray(reader.read(dtype="float32"), dtype=np.float32)
    except Exception as exc:  # bed-reader's Rust errors surface as ValueError / others
        raise DataError(f"{bed.name}: not readable ({type(exc).__name__}: {exc})") from None
    pheno = pd.to_numeric(fam_table[5], errors="coerce").to_numpy(dtype=np.float64, copy=True)
    pheno[pheno == -9] = np.nan  # PLINK's missing phenotype code
    return Genotypes(list(fam_table[1].astype(str)), dosage, [], fam_phenotype=pheno)


def impute_mean(dosage: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], str | None]:
    """Replace missing calls by the SNP's mean dosage; drop SNPs with no call at all."""
    missing = np.isnan(dosage)
    if not missing.any():
        return dosage, None
    called = ~missing.all(axis=0)
    dosage = dosage[:, called]
    missing = missing[:, called]
    means = np.nanmean(dosage, axis=0)
    filled = np.where(missing, means[None, :], dosage).astype(np.float32)
    note = (
        f"imputed {int(missing.sum())} missing calls ({missing.mean():.2%}) with the SNP's mean "
        f"dosage; dropped {int((~called).sum())} SNPs with no call"
    )
    return filled, note


def read_phenotypes(
    path: Path, *, target: str | None, id_column: str | None, extra_columns: list[str]
) -> tuple[pd.Series[str], pd.DataFrame]:
    """The individual ids and the columns `target` + `extra_columns` of a phenotype CSV/TSV."""
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    try:
        table = pd.read_csv(path, sep=sep, dtype={id_column: str} if id_column else None)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: not a readable CSV ({exc})") from None
    id_column = id_column or str(table.columns[0])
    if target is None:
        numeric = [c for c in table.columns[1:] if pd.api.types.is_numeric_dtype(table[c])]
        numeric = [c for c in numeric if c not in extra_columns]
        if len(numeric) != 1:
            raise DataError(
                f"{path.name}: say which column is the trait with --target "
                f"(columns: {', '.join(map(str, table.columns))})"
            )
        target = str(numeric[0])
    for column in (id_column, target, *extra_columns):
        if column not in table.columns:
            raise DataError(
                f"{path.name}: no column '{column}' (columns: {', '.join(map(str, table.columns))})"
            )
    ids = table[id_column].astype(str)
    if ids.duplicated().any():
        raise DataError(
            f"{path.name}: individual '{ids[ids.duplicated()].iloc[0]}' is listed twice"
        )
    values = table[[target, *extra_columns]].copy()
    values[target] = pd.to_numeric(values[target], errors="coerce")
    require_varying_target(
        values[target].to_numpy(dtype=np.float64),
        file=path.name,
        column=f"column '{target}'",
        hint="give a numeric trait that varies between individuals",
    )
    return ids, values.rename(columns={target: "__trait__"})
