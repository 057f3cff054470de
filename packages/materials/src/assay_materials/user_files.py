"""A user's materials data: a Matbench task file, or a folder of structure files and a CSV
of targets. Both store what every materials source stores (see `assay_materials.sources`)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
from assay.kit import (
    EXAMPLE,
    DataError,
    DatasetMetadata,
    SourceParams,
    UserFileSource,
    bundled_path,
    reason,
    require_varying_target,
)

from assay_materials.composition import chemical_system, parse_composition
from assay_materials.readers import read_task_table, task_columns
from assay_materials.sources import MaterialsSource, library_version
from assay_materials.structures import check_structure, read_structure_file

EXAMPLES = {
    "materials.matbench_file": "matbench_emt_example.json.gz",
    "materials.structure_folder": "structures",
}
"""`path = "example"` reads a small example bundled with the plugin (EMT alloys made here)."""


def _user_path(
    source: UserFileSource[Any], params: MatbenchFileParams | StructureFolderParams
) -> Path:
    example = None
    if params.path == EXAMPLE:
        example = bundled_path(source.name, "assay_materials", "examples", EXAMPLES[source.name])
    return source.given_path(params, example=example)


def _finite_target(value: Any, *, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: target {value!r} is not a number") from None
    if not math.isfinite(number):
        raise DataError(f"{where}: target is {value!r}; every row needs a finite target")
    return number


class MatbenchFileParams(SourceParams):
    path: str | None = None
    """The task file (`--data`), or "example" for the bundled one."""
    target: str | None = None
    """The target column; None: the one column besides the input and the id (or, among
    several, the one Matbench target name)."""


class MatbenchFileSource(UserFileSource[MatbenchFileParams], MaterialsSource[MatbenchFileParams]):
    """A Matbench task file in any form Matbench, matminer or pandas write one (see
    `assay_materials.readers`): JSON, gzip, bz2 or xz; pandas split, columns, index or
    records orient. The input column is `structure` (pymatgen Structure dicts) or `composition`
    (formula strings), else the first column; the `mbid` column, or the index, gives the row
    ids kept beside the predictions. Run it with Matbench's folds (rows in file order).

    Parameters: `path` (required), `target` (column name)."""

    name = "materials.matbench_file"
    params_model = MatbenchFileParams

    def input_files(self, params: MatbenchFileParams) -> list[Path]:
        return [_user_path(self, params)]

    def generator_versions(self) -> dict[str, str]:
        return {"pymatgen": library_version("pymatgen")}

    def dataset_metadata(
        self, params: MatbenchFileParams, files_dir: Path, notes: Sequence[str]
    ) -> DatasetMetadata:
        name = _user_path(self, params).name.split(".")[0]
        return self.user_metadata(
            params, files_dir, name=name, what="user Matbench task file", notes=notes
        )

    def prepare(self, params: MatbenchFileParams, out_dir: Path) -> None:
        path = _user_path(self, params)
        table = read_task_table(path)
        target = params.target
        chosen = task_columns(table, target, path)
        ids = table.column(chosen.id) if chosen.id else table.index
        id_texts = None if ids is None else [str(i) for i in ids]
        inputs = table.column(chosen.input)
        values = table.column(chosen.target)
        if any(isinstance(v, bool) for v in values):
            raise DataError(
                f"{path}: target column {chosen.target!r} holds true/false values (a "
                "classification task); materials/matbench-file scores regression targets"
            )
        rows: list[Any] = []
        targets = []
        for i, (given, value) in enumerate(zip(inputs, values, strict=True)):
            where = f"{path} row {i}" + (f" ({id_texts[i]!r})" if id_texts else "")
            rows.append(matbench_input(given, where=where))
            targets.append(_finite_target(value, where=where))
        if len(rows) < 10:
            raise DataError(f"{path}: {len(rows)} rows; a benchmark needs at least 10")
        require_varying_target(targets, file=path, column=f"target column {chosen.target!r}")
        groups = [chemical_system(parse_composition(x)) for x in rows]
        kind = "compositions" if isinstance(rows[0], str) else "structures"
        id_origin = f"column {chosen.id!r}" if chosen.id else "the index"
        self.store(
            out_dir,
            inputs=rows,
            targets=np.array(targets),
            groups=groups,
            ids=id_texts,
            notes=[
                f"{len(rows)} rows of {path.name}, target column {chosen.target!r}",
                f"read as pandas {table.layout} orient ({_compressed(table.compression)}); "
                f"input column {chosen.input!r} ({kind}); "
                f"row ids from {id_origin if id_texts else 'nowhere (none in the file)'}",
            ],
        )


def _compressed(compression: str) -> str:
    return "uncompressed" if compression == "none" else f"{compression}-compressed"


def matbench_input(value: Any, *, where: str) -> Any:
    """A Structure from a pymatgen dict, or the composition string itself (checked); a
    pymatgen Composition dict becomes its formula."""
    if isinstance(value, dict) and value.get("@class") == "Composition":
        amounts = {k: v for k, v in value.items() if not k.startswith("@")}
        value = " ".join(f"{element}{amount}" for element, amount in amounts.items())
    if isinstance(value, dict):
        from pymatgen.core.structure import Structure

        try:
            structure = Structure.from_dict(value)
        except Exception as exc:
            raise DataError(f"{where}: not a pymatgen Structure dict ({reason(exc)})") from None
        check_structure(structure, where=where)
        return structure
    if isinstance(value, str):
        parse_composition(value, where=where)
        return value
    raise DataError(
        f"{where}: expected a Structure dict or a composition string, got {type(value).__name__}"
    )


STRUCTURE_PATTERNS = ("*.cif", "*.vasp", "*.poscar", "poscar*", "contcar*", "*.extxyz", "*.xyz")
"""Names of the usual structure files (lower case); `targets.csv` may name files of any other
format ASE reads."""


def check_structure_folder(folder: Path, *, own_targets: bool) -> None:
    """One line for a folder that cannot hold the data: empty, or without structure files
    and a targets.csv naming them."""
    found = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    structures = [
        f for f in found if any(fnmatch(Path(f).name.lower(), p) for p in STRUCTURE_PATTERNS)
    ]
    has_targets = own_targets or "targets.csv" in found
    kinds = "CIF, POSCAR/CONTCAR/.vasp or extxyz/.xyz"
    if not [f for f in found if f != "targets.csv"]:
        held = "only targets.csv" if found else "nothing"
        raise DataError(f"{folder}: no structure files ({kinds}) in the folder; it holds {held}")
    if not has_targets:
        seen = f"{len(structures)} structure files" if structures else f"no {kinds} files"
        raise DataError(
            f"{folder}: no targets.csv (columns 'file' and 'target'); the folder holds {seen} "
            f"among {found[:5]}{' ...' if len(found) > 5 else ''}; add targets.csv or pass "
            "targets=PATH"
        )


class StructureFolderParams(SourceParams):
    path: str | None = None
    """The folder of structure files (`--data`), or "example"."""
    targets: str | None = None
    """The CSV of targets; None: `<folder>/targets.csv`."""
    file_column: str = "file"
    target_column: str = "target"


class StructureFolderSource(
    UserFileSource[StructureFolderParams], MaterialsSource[StructureFolderParams]
):
    """A folder of CIF / POSCAR / extxyz files and a CSV of targets.

    The CSV (`targets`, default `<folder>/targets.csv`) has a `file` column (the
    structure's file name in the folder) and a `target` column (names set by
    `file_column` and `target_column`). Files are read with pymatgen (CIF,
    POSCAR) or ASE (extxyz), each checked for overlapping atoms."""

    name = "materials.structure_folder"
    params_model = StructureFolderParams
    reads_folder = True

    def check_inputs(self, params: StructureFolderParams) -> None:
        folder = _user_path(self, params)
        if folder.is_file():
            raise DataError(
                f"{self.name}: {folder} is a file; pass the folder that holds the structure "
                "files and targets.csv (a Matbench task file runs as materials/matbench-file)"
            )
        if folder.is_dir():
            check_structure_folder(folder, own_targets=bool(params.targets))
        super().check_inputs(params)

    def targets_csv(self, params: StructureFolderParams) -> Path:
        if params.targets:
            return self.given_path(params, "targets")
        return _user_path(self, params) / "targets.csv"

    def input_files(self, params: StructureFolderParams) -> list[Path]:
        return [_user_path(self, params), self.targets_csv(params)]

    def generator_versions(self) -> dict[str, str]:
        return {"pymatgen": library_version("pymatgen"), "ase": library_version("ase")}

    def dataset_metadata(
        self, params: StructureFolderParams, files_dir: Path, notes: Sequence[str]
    ) -> DatasetMetadata:
        folder = _user_path(self, params)
        what = "user structure folder and targets"
        return self.user_metadata(params, files_dir, name=folder.name, what=what, notes=notes)

    def prepare(self, params: StructureFolderParams, out_dir: Path) -> None:
        folder = _user_path(self, params)
        table = self.targets_csv(params)
        file_column, target_column = params.file_column, params.target_column
        with table.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            for column in (file_column, target_column):
                if column not in header:
                    raise DataError(f"{table}: no '{column}' column (columns: {header})")
            rows = list(reader)
        structures, targets = [], []
        for i, row in enumerate(rows):
            where = f"{table} row {i + 2}"
            path = folder / str(row[file_column])
            if not path.is_file():
                raise DataError(f"{where}: structure file {path} not found")
            targets.append(_finite_target(row[target_column], where=f"{where} ({path.name})"))
            structures.append(read_structure_file(path))
        if len(structures) < 10:
            raise DataError(f"{table}: {len(structures)} rows; a benchmark needs at least 10")
        require_varying_target(targets, file=table, column=f"column {target_column!r}")
        self.store(
            out_dir,
            inputs=structures,
            targets=np.array(targets),
            groups=[chemical_system(s.composition) for s in structures],
            notes=[f"{len(structures)} structures from {folder.name}, target {target_column!r}"],
        )
