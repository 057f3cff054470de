"""Data sources: experimental formation enthalpies, EMT alloys, and a user's files.

Every source stores either `formulas.json` (composition inputs) or
`structures.json` (lattice, species, fractional coordinates per row), plus
`targets.npy`, `groups.json` (chemical system, for leave-system-out splits),
optional `extra-<name>.npy` columns, optional `ids.json` (the rows' own names, such
as Matbench ids) and `meta.json`. Loaded inputs are an
object array of formula strings or of pymatgen `Structure`s; every model
here accepts both.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections.abc import Mapping, Sequence
from fnmatch import fnmatch
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from assay.kit import (
    EXAMPLE,
    DataError,
    Dataset,
    DatasetMetadata,
    DescribedSource,
    ExportView,
    SourceParams,
    SourceParamsT,
    UserFileSource,
    bundled_path,
    read_array,
    read_json,
    reason,
    require_varying_target,
    write_array,
    write_json,
)
from pydantic import Field, ValidationInfo, field_validator

from assay_materials.composition import chemical_system, parse_composition
from assay_materials.metrics import STABLE_TOLERANCE
from assay_materials.readers import read_task_table, task_columns
from assay_materials.structures import (
    check_structure,
    read_structure_file,
    structure_from_record,
    structure_to_record,
)

EV_PER_KJ_MOL = 1.0 / 96.48533212
"""1 eV per particle = 96.485 kJ/mol (CODATA 2018)."""


def _version(module_name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(module_name)
    except metadata.PackageNotFoundError:
        return "absent"


def _subsample_rows(n: int, max_rows: int | None) -> np.ndarray[Any, Any]:
    if max_rows is None or max_rows >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, max_rows, replace=False))


class MaterialsSource(DescribedSource[SourceParamsT]):
    """Shared storage and loading; subclasses write rows with `store`."""

    version = "1"
    task_name: ClassVar[str] = ""

    def store(
        self,
        out_dir: Path,
        *,
        inputs: list[Any],
        targets: np.ndarray[Any, Any],
        groups: list[str],
        extras: Mapping[str, np.ndarray[Any, Any]] | None = None,
        notes: list[str] | None = None,
        ids: list[str] | None = None,
    ) -> None:
        if inputs and not isinstance(inputs[0], str):
            write_json(out_dir / "structures.json", [structure_to_record(s) for s in inputs])
        else:
            write_json(out_dir / "formulas.json", inputs)
        write_array(out_dir / "targets.npy", np.asarray(targets, dtype=np.float64))
        write_json(out_dir / "groups.json", groups)
        if ids is not None:  # the rows' own names (Matbench ids), kept beside predictions
            write_json(out_dir / "ids.json", ids)
        for key, values in (extras or {}).items():
            write_array(out_dir / f"extra-{key}.npy", np.asarray(values))
        write_json(out_dir / "meta.json", {"notes": notes or [], "rows": len(inputs)})

    def target_meaning(self, params: SourceParamsT) -> str:
        """What the target is, with its unit (for exported Croissant descriptions)."""
        del params
        return "the target value given with each row"

    def export_view(self, dataset: Dataset, params: SourceParamsT) -> ExportView:
        from assay_materials.export import materials_view

        return materials_view(dataset, self.target_meaning(params))

    def load(self, params: SourceParamsT, files_dir: Path) -> Dataset:
        if (files_dir / "structures.json").is_file():
            records = read_json(files_dir / "structures.json")
            inputs = np.empty(len(records), dtype=object)
            inputs[:] = [structure_from_record(r) for r in records]
        else:
            inputs = np.asarray(read_json(files_dir / "formulas.json"), dtype=object)
        meta = read_json(files_dir / "meta.json")
        ids_file = files_dir / "ids.json"
        ids = np.asarray(read_json(ids_file), dtype=np.str_) if ids_file.is_file() else None
        extras = {
            p.name[len("extra-") : -len(".npy")]: read_array(p)
            for p in sorted(files_dir.glob("extra-*.npy"))
        }
        return Dataset(
            inputs=inputs,
            targets=read_array(files_dir / "targets.npy"),
            groups=np.asarray(read_json(files_dir / "groups.json"), dtype=np.str_),
            extras=extras,
            ids=ids,
            metadata=self.dataset_metadata(params, files_dir, meta.get("notes", ())),
        )


def exp_compounds_path() -> Path:
    path = files("pymatgen") / "analysis" / "compatibility" / "exp_compounds.json.gz"
    if not isinstance(path, Path) or not path.is_file():
        raise DataError(
            "pymatgen/analysis/compatibility/exp_compounds.json.gz is not in this pymatgen "
            "install; install the pymatgen wheel from PyPI"
        )
    return path


def experimental_enthalpies() -> list[tuple[str, float, int]]:
    """(formula, formation enthalpy eV/atom, atoms per formula unit) of every compound, in file order.

    The file gives `exp energy` in eV per formula unit as written (Ag2CO3: -5.242 eV)."""
    with gzip.open(exp_compounds_path(), "rt", encoding="utf-8") as handle:
        entries = json.load(handle)
    out = []
    for i, entry in enumerate(entries):
        formula = str(entry["formula"])
        comp = parse_composition(formula, where=f"exp_compounds.json.gz entry {i}")
        atoms = comp.num_atoms
        value = float(entry["exp energy"])
        if not math.isfinite(value):
            raise DataError(f"exp_compounds.json.gz entry {i} ({formula}): energy is {value}")
        out.append((formula, value / atoms, round(atoms)))
    return out


class ExptParams(SourceParams):
    max_rows: int | None = Field(default=None, ge=10)
    """A seeded subsample of this many compounds (quick sizes); None keeps all."""


class ExptFormationEnthalpySource(MaterialsSource[ExptParams]):
    """2,135 experimental formation enthalpies from pymatgen's wheel, in eV/atom.

    Parameters: `max_rows` (a seeded subsample, for quick sizes)."""

    name = "materials.expt_formation_enthalpy"
    params_model = ExptParams

    def target_meaning(self, params: ExptParams) -> str:
        del params
        return "experimental formation enthalpy (eV/atom)"

    def generator_versions(self) -> dict[str, str]:
        return {"pymatgen": _version("pymatgen")}

    def describe(self, params: ExptParams) -> tuple[str, str, str]:
        return (
            "expt-formation-enthalpy",
            "experimental standard formation enthalpies (298 K) of 2,135 inorganic compounds "
            "shipped in pymatgen (pymatgen/analysis/compatibility/exp_compounds.json.gz, used "
            "to fit the MP2020 corrections: Wang et al., Sci. Rep. 11, 15496, 2021; from "
            "Kubaschewski, NIST-JANAF and others), converted from eV per formula unit to eV/atom",
            "pymatgen (MIT licence); the compilation's sources as cited by Wang et al. 2021",
        )

    def prepare(self, params: ExptParams, out_dir: Path) -> None:
        rows = experimental_enthalpies()
        keep = _subsample_rows(len(rows), params.max_rows)
        chosen = [rows[i] for i in keep]
        notes = [f"{len(rows)} compounds, eV per formula unit divided by atoms per formula unit"]
        if len(keep) < len(rows):
            notes.append(f"subsampled {len(keep)} of {len(rows)} compounds (max_rows, seed 0)")
        self.store(
            out_dir,
            inputs=[f for f, _, _ in chosen],
            targets=np.array([e for _, e, _ in chosen]),
            groups=[chemical_system(parse_composition(f)) for f, _, _ in chosen],
            extras={"atoms_per_formula_unit": np.array([n for _, _, n in chosen])},
            notes=notes,
        )


EmtTarget = Literal["formation_energy", "e_above_hull"]


class EmtParams(SourceParams):
    """A default left out of a scenario's params stays out of its cache and run keys."""

    n_structures: int = Field(default=400, ge=10)
    min_atoms: int = Field(default=4, ge=2, le=32)
    max_atoms: int = Field(default=12, ge=2, le=32)
    seed: int = Field(default=0, ge=0)
    chunk_size: int = Field(default=12, ge=1)
    target: EmtTarget = "formation_energy"
    """`formation_energy` (eV/atom) or `e_above_hull` (eV/atom above the hull of the set)."""

    @field_validator("max_atoms")
    @classmethod
    def _not_below_min_atoms(cls, value: int, info: ValidationInfo) -> int:
        smallest = info.data.get("min_atoms")
        if smallest is not None and value < smallest:
            raise ValueError(f"must be at least min_atoms ({smallest})")
        return value


class EmtAlloysSource(MaterialsSource[EmtParams]):
    """Binary fcc decorations of Cu/Ag/Au/Ni/Pd/Pt relaxed with EMT.

    Target (`target`): formation energy (eV/atom, the default) against the pure
    metals relaxed the same way, or the energy above the convex hull of this
    set and the elements (eV/atom). Extras: `e_above_hull`, `stable` (1 within
    STABLE_TOLERANCE of the hull), `steps` (BFGS steps), and
    `formation_energy` when it is not the target. Groups: the binary system
    ("Au-Cu"). Parameters: `n_structures`, `min_atoms`, `max_atoms`, `seed`,
    `chunk_size`, `target`.
    """

    name = "materials.emt_alloys"
    version = "2"
    """2: stored values rounded (`portable`), so the data sha no longer depends on the CPU."""
    params_model = EmtParams

    def generator_versions(self) -> dict[str, str]:
        return {"ase": _version("ase"), "pymatgen": _version("pymatgen")}

    def target_meaning(self, params: EmtParams) -> str:
        if params.target == "formation_energy":
            return "EMT formation energy against the pure metals relaxed alike (eV/atom)"
        return "EMT energy above the convex hull of this set and the elements (eV/atom)"

    def describe(self, params: EmtParams) -> tuple[str, str, str]:
        target = (
            ""
            if params.target == "formation_energy"
            else "; target: energy above the convex hull of this set and the elements"
        )
        return (
            "emt-alloys" if not target else "emt-alloys-e-above-hull",
            f"{params.n_structures} binary fcc decorations ({params.min_atoms}-"
            f"{params.max_atoms} atoms) of Cu, Ag, Au, Ni, Pd, Pt drawn with seed "
            f"{params.seed}, relaxed here with ASE's EMT (BFGS + FrechetCellFilter, fmax "
            f"0.01 eV/A); EMT is an effective-medium potential, not DFT{target}",
            "generated here (ASE, LGPL-2.1; pymatgen, MIT)",
        )

    def prepare(self, params: EmtParams, out_dir: Path) -> None:
        from assay_materials import emt

        full = params
        candidates = emt.draw_candidates(
            full.n_structures,
            seed=full.seed,
            min_atoms=full.min_atoms,
            max_atoms=full.max_atoms,
        )
        records = emt.relax_all(candidates, chunk_size=full.chunk_size)
        kept = [r for r in records if r["converged"]]
        notes = [f"{len(kept)} of {len(records)} relaxations converged (fmax {emt.FMAX})"]
        store_relaxed(self, out_dir, kept, notes, target=full.target)


# What EMT data stores is rounded so that its bytes, hence its data sha, are the same on every
# CPU: relaxations whose start differs by 1e-14 A (as another CPU's BLAS kernels and rounding
# make it differ) end about 1e-14 eV/atom, 1e-13 in fractional coordinates and 1e-12 A in the
# cell apart. The steps below are a million times that noise, so a rounding boundary falls
# inside it for one of the ~15,000 stored values of 400 cells with a chance below 1 %; and
# they are over 100 times finer than what the relaxation determines (fmax 0.01 eV/A leaves
# positions about 1e-3 A and energies about 1e-5 eV/atom open; the best models err by
# meV/atom).
ENERGY_DECIMALS = 7
"""eV/atom: formation energies and energies above the hull, to 0.1 ueV/atom."""
LENGTH_DECIMALS = 6
"""Angstrom: the relaxed cell's vectors."""
FRACTION_DECIMALS = 6
"""Fractional coordinates (1e-5 A in these cells of 3-10 A)."""


def portable(values: Any, decimals: int) -> np.ndarray[Any, Any]:
    """`values` rounded to `decimals` places; -0.0 becomes 0.0, so a sign lost in the noise
    leaves no trace in the bytes."""
    return np.round(np.asarray(values, dtype=np.float64), decimals) + 0.0


def store_relaxed(
    source: MaterialsSource[Any],
    out_dir: Path,
    records: list[dict[str, Any]],
    notes: list[str],
    *,
    target: EmtTarget = "formation_energy",
) -> None:
    """Structures, formation energies, hull distances and stable labels of relaxed records;
    `target` says which of the two energies is the target (the other is an extra)."""
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    from assay_materials import emt

    structures = [
        Structure(
            Lattice(portable(r["lattice"], LENGTH_DECIMALS)),
            r["symbols"],
            portable(r["frac_coords"], FRACTION_DECIMALS) % 1.0,  # 1.0 and 0.0 are one site
        )
        for r in records
    ]
    formation = portable(
        [emt.formation_energy(r["energy"], r["symbols"]) for r in records], ENERGY_DECIMALS
    )
    formulas = [{s: r["symbols"].count(s) for s in set(r["symbols"])} for r in records]
    above = portable(emt.hull_distances(formulas, formation), ENERGY_DECIMALS)
    extras = {
        "e_above_hull": above,
        "stable": (above <= STABLE_TOLERANCE).astype(np.int64),
        "steps": np.array([r["steps"] for r in records], dtype=np.int64),
    }
    if target == "e_above_hull":
        extras["formation_energy"] = formation
        notes = [*notes, "target: energy above the hull (eV/atom)"]
    source.store(
        out_dir,
        inputs=structures,
        targets=formation if target == "formation_energy" else above,
        groups=[emt.system_name(sorted(set(r["symbols"]))) for r in records],
        extras=extras,
        notes=[*notes, f"{int((above <= STABLE_TOLERANCE).sum())} structures on the hull"],
    )


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
        return {"pymatgen": _version("pymatgen")}

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
        return {"pymatgen": _version("pymatgen"), "ase": _version("ase")}

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
