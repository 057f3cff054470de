"""`breeding.file`: a user's genotypes (VCF or PLINK .bed) and phenotypes, ready for the models.

`assay run breeding/user-files --data GENOTYPES --set phenotypes=PHENO.csv --target TRAIT`

Parameters: `path` (a .vcf, .vcf.gz or .bed; "example" is the bundled
tskit-written VCF), `phenotypes` (CSV/TSV with an id column; for PLINK it
may be omitted and the .fam phenotype is used), `target` (trait column),
`id_column` (first column by default), `fold_column` (a given fold per
individual; shuffled k-fold otherwise), `group_column` (families kept
whole by a group split). The policies for missing calls, multiallelic sites,
unmatched samples and NaN phenotypes are in `assay_breeding.readers`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from assay.kit import (
    EXAMPLE,
    DataError,
    Dataset,
    DatasetMetadata,
    ExportView,
    Fold,
    SourceParams,
    SplitError,
    Splitter,
    UserFileSource,
    bundled_path,
    kfold,
    read_array,
    read_json,
    require_varying_target,
    sha256_file,
    user_path,
    write_array,
    write_json,
)
from pydantic import model_validator

EXAMPLE_VCF = "example.vcf.gz"
EXAMPLE_PHENOTYPES = "example_phenotypes.csv"


class UserFilesParams(SourceParams):
    path: str = EXAMPLE
    """A .vcf, .vcf.gz or PLINK .bed, or "example" (the bundled tskit-written VCF)."""
    phenotypes: str | None = None
    target: str | None = None
    id_column: str | None = None
    fold_column: str | None = None
    group_column: str | None = None

    @model_validator(mode="after")
    def _a_vcf_needs_phenotypes(self) -> UserFilesParams:
        vcf = self.path != EXAMPLE and not self.path.lower().endswith(".bed")
        if vcf and self.phenotypes is None:
            raise ValueError("a VCF needs a phenotype CSV: --set phenotypes=PATH")
        return self


class UserFilesSource(UserFileSource[UserFilesParams]):
    name = "breeding.file"
    version = "1"
    params_model = UserFilesParams

    def resolve(self, params: UserFilesParams) -> tuple[Path, Path | None]:
        if params.path == EXAMPLE:
            folder = bundled_path(self.name, "assay_breeding", "examples")
            return folder / EXAMPLE_VCF, folder / EXAMPLE_PHENOTYPES
        pheno = params.phenotypes
        return self.given_path(params), (user_path(pheno) if pheno else None)

    def input_files(self, params: UserFilesParams) -> list[Path]:
        """The genotypes (a .bed with its .bim and .fam) and the phenotype file."""
        genotypes, phenotypes = self.resolve(params)
        paths = [genotypes]
        if genotypes.suffix.lower() == ".bed":
            paths += [genotypes.with_suffix(".bim"), genotypes.with_suffix(".fam")]
        return paths + ([phenotypes] if phenotypes is not None else [])

    def prepare(self, params: UserFilesParams, out_dir: Path) -> None:
        # the readers (pandas, scikit-allel) load only when files are read, not at plugin import
        from assay_breeding.readers import impute_mean, read_phenotypes, read_plink, read_vcf

        genotype_path, pheno_path = self.resolve(params)
        is_bed = genotype_path.suffix.lower() == ".bed"
        genotypes = read_plink(genotype_path) if is_bed else read_vcf(genotype_path)
        notes = list(genotypes.notes)
        extra_columns = [c for c in (params.fold_column, params.group_column) if c]
        samples = np.asarray(genotypes.samples, dtype=str)
        if pheno_path is None:
            assert genotypes.fam_phenotype is not None
            trait = genotypes.fam_phenotype
            require_varying_target(
                trait,
                file=genotype_path.with_suffix(".fam").name,
                column="column 6 (phenotype)",
                hint="plink and bed-reader write 0 or -9 there when given no phenotype; "
                "pass the trait with --set phenotypes=PATH",
            )
            fold = group = None
            source_note = f"phenotype: column 6 of {genotype_path.with_suffix('.fam').name}"
        else:
            ids, table = read_phenotypes(
                pheno_path,
                target=params.target,
                id_column=params.id_column,
                extra_columns=extra_columns,
            )
            position = {sample: i for i, sample in enumerate(ids)}
            matched = np.array([s in position for s in samples])
            if not matched.any():
                raise DataError(
                    f"{pheno_path.name}: none of its ids match the {len(samples)} genotyped "
                    f"samples of {genotype_path.name} (e.g. '{samples[0]}' vs '{ids.iloc[0]}')"
                )
            rows = np.array([position.get(s, -1) for s in samples])
            trait = np.where(matched, table["__trait__"].to_numpy(dtype=np.float64)[rows], np.nan)
            fold = (
                table[params.fold_column].astype(str).to_numpy()[rows]
                if params.fold_column
                else None
            )
            group = (
                table[params.group_column].astype(str).to_numpy()[rows]
                if params.group_column
                else None
            )
            if (~matched).any():
                notes.append(
                    f"dropped {int((~matched).sum())} genotyped samples absent from {pheno_path.name}"
                )
            unused = len(ids) - int(matched.sum())
            if unused:
                notes.append(f"ignored {unused} phenotype rows without genotypes")
            source_note = f"phenotypes: {pheno_path.name} (sha256 {sha256_file(pheno_path)[:16]})"
        has_trait = np.isfinite(trait)
        nan_count = int((~has_trait).sum())
        if pheno_path is not None:
            nan_count -= int((~np.isin(samples, list(position))).sum())
        if nan_count:
            notes.append(f"dropped {nan_count} individuals with a missing (NaN) phenotype")
        if has_trait.sum() < 10:
            raise DataError(
                f"{genotype_path.name}: only {int(has_trait.sum())} individuals have both genotypes and a phenotype"
            )
        dosage, imputed = impute_mean(genotypes.dosages[has_trait])
        if imputed:
            notes.append(imputed)
        write_array(out_dir / "genotypes.npy", dosage)
        write_array(out_dir / "phenotype.npy", trait[has_trait])
        if fold is not None:
            write_json(out_dir / "fold.json", fold[has_trait].tolist())
        if group is not None:
            write_json(out_dir / "group.json", group[has_trait].tolist())
        # The card of a user's files is written at load by the kit; "provenance" stays in
        # meta.json because its bytes are part of the data sha of every entry made so far.
        write_json(
            out_dir / "meta.json",
            {
                "samples": samples[has_trait].tolist(),
                "notes": notes,
                "provenance": f"genotypes: {genotype_path.name} (sha256 {sha256_file(genotype_path)[:16]}); {source_note}",
            },
        )

    def export_view(self, dataset: Dataset, params: UserFilesParams) -> ExportView:
        del params
        from assay_breeding.sources import genotype_columns

        return ExportView(
            inputs=genotype_columns(dataset), target_description="the phenotype given"
        )

    def load(self, params: UserFilesParams, files_dir: Path) -> Dataset:
        meta = read_json(files_dir / "meta.json")
        extras: dict[str, Any] = {}
        if (files_dir / "fold.json").is_file():
            extras["fold"] = np.asarray(read_json(files_dir / "fold.json"), dtype=str)
        groups = None
        if (files_dir / "group.json").is_file():
            groups = np.asarray(read_json(files_dir / "group.json"), dtype=str)
        example = params.path == EXAMPLE
        policies = "policies: " + "; ".join(meta["notes"]) if meta["notes"] else ""
        if example:
            metadata = DatasetMetadata(
                name="breeding-example",
                version="1",
                provenance="; ".join(filter(None, [meta["provenance"], policies])),
                licence="generated from first principles (bundled example)",
                notes=tuple(meta["notes"]),
            )
        else:
            genotypes, phenotypes = self.resolve(params)
            fam = genotypes.with_suffix(".fam").name
            trait = "" if phenotypes else f"phenotype: column 6 of {fam}"
            metadata = self.user_metadata(
                params,
                files_dir,
                name="breeding-user-files",
                details="; ".join(filter(None, [trait, policies])),
                notes=meta["notes"],
            )
        return Dataset(
            inputs=read_array(files_dir / "genotypes.npy"),
            targets=read_array(files_dir / "phenotype.npy"),
            groups=groups,
            extras=extras,
            metadata=metadata,
        )


def user_folds(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """The user's fold column when the data has one (one fold per value), else shuffled k-fold."""
    if "fold" not in dataset.extras:
        return kfold(dataset, folds=folds, repeats=repeats, seed=seed)
    labels = np.asarray(dataset.extras["fold"], dtype=str)
    values = np.unique(labels)
    if len(values) < 2:
        raise SplitError(f"the fold column has one value only ('{values[0]}'); need >= 2 folds")
    return [
        Fold(
            r,
            index,
            np.flatnonzero(labels != value).astype(np.int64),
            np.flatnonzero(labels == value).astype(np.int64),
        )
        for r in range(repeats)
        for index, value in enumerate(values)
    ]


USER_FOLDS = Splitter(user_folds)
