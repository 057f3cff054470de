"""A user's molecules: a CSV/TSV with a SMILES and a target column, or an SDF with a target
property, curated and stored as every molecule source is (see `assay_medicine.sources`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from assay.kit import (
    EXAMPLE,
    USER_LICENCE,
    DataError,
    DatasetMetadata,
    UserFileSource,
    bundled_path,
    require_varying_target,
)
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from assay_medicine.chem import Row, as_float
from assay_medicine.sources import MoleculeParams, MoleculeSource


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
