"""Data sources: experimental formation enthalpies and EMT alloys (a user's files: `user_files`).

Every source stores either `formulas.json` (composition inputs) or
`structures.json` (lattice, species, fractional coordinates per row), plus
`targets.npy`, `groups.json` (chemical system, for leave-system-out splits),
optional `extra-<name>.npy` columns, optional `ids.json` (the rows' own names, such
as Matbench ids) and `meta.json`. Loaded inputs are an
object array of formula strings or of pymatgen `Structure`s; every model
here accepts both.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from assay.kit import (
    DataError,
    Dataset,
    DescribedSource,
    ExportView,
    SourceParams,
    SourceParamsT,
    read_array,
    read_json,
    write_array,
    write_json,
)
from pydantic import Field, ValidationInfo, field_validator

from assay_materials.composition import chemical_system, parse_composition
from assay_materials.metrics import STABLE_TOLERANCE
from assay_materials.structures import (
    structure_from_record,
    structure_to_record,
)

EV_PER_KJ_MOL = 1.0 / 96.48533212
"""1 eV per particle = 96.485 kJ/mol (CODATA 2018)."""


def library_version(module_name: str) -> str:
    """The installed version of a distribution (kept in the data card), or "absent"."""
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
        return {"pymatgen": library_version("pymatgen")}

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
        return {"ase": library_version("ase"), "pymatgen": library_version("pymatgen")}

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
