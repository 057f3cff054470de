"""Crystal structures: a compact JSON form for the cache, readers for the field's files, checks.

The cache stores a structure as its lattice, species and fractional
coordinates (deterministic bytes, no library version inside), and loads it
back as a pymatgen `Structure`. Files are read with pymatgen (CIF, POSCAR /
CONTCAR / vasp) or ASE (extxyz and whatever else `ase.io.read` knows), and
every structure is checked for atoms closer than `MIN_DISTANCE`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from assay.kit import DataError, Dataset, Requirement, reason

if TYPE_CHECKING:
    from pymatgen.core.structure import Structure

MIN_DISTANCE = 0.5
"""Angstrom. Closer than this, two atoms are a file error (duplicated sites), not chemistry:
the shortest real bond (H2) is 0.74 A."""


def structure_to_record(structure: Structure) -> dict[str, Any]:
    return {
        "lattice": np.round(structure.lattice.matrix, 10).tolist(),
        "species": [str(site.specie) for site in structure],
        "frac_coords": np.round(structure.frac_coords, 10).tolist(),
    }


def structure_from_record(record: dict[str, Any]) -> Structure:
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    return Structure(Lattice(record["lattice"]), record["species"], record["frac_coords"])


def detached(structure: Structure) -> Structure:
    """A new structure with its own lattice. pymatgen caches volumes, distances and lattice
    parameters on the objects (a copy shares its lattice), and a model must never change the
    inputs it was given: compute on this instead."""
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    return Structure(
        Lattice(np.array(structure.lattice.matrix, copy=True)),
        [str(site.specie) for site in structure.sites],
        np.array(structure.frac_coords, copy=True),
    )


def _lacking_structures(dataset: Dataset) -> str | None:
    from pymatgen.core.structure import Structure

    for i, given in enumerate(dataset.inputs):
        if not isinstance(given, Structure):
            return f"row {i} is a {type(given).__name__}, not a structure"
    return None


STRUCTURES = Requirement(
    "structures",
    _lacking_structures,
    hint="formulas carry no atomic positions: use materials.linear or materials.random_forest",
)
"""The need of every model that reads atomic positions (`@requires(STRUCTURES)`)."""


def require_structures(inputs: Sequence[Any], *, model: str, hint: str = "") -> list[Structure]:
    """The rows as structures, or one line naming the first row that is not one (formulas
    carry no positions for a model that needs them)."""
    from pymatgen.core.structure import Structure

    for i, given in enumerate(inputs):
        if not isinstance(given, Structure):
            advice = f" ({hint})" if hint else ""
            raise DataError(
                f"row {i}: {model} needs structures, got {type(given).__name__}{advice}"
            )
    return list(inputs)


def check_structure(structure: Structure, *, where: str) -> None:
    """Refuse structures that no model should see: no atoms, unknown species, overlapping atoms."""
    from pymatgen.core.periodic_table import Element

    if len(structure) == 0:
        raise DataError(f"{where}: the structure has no atoms")
    unknown = sorted({str(s) for s in structure.species if not isinstance(s, Element)})
    if unknown:
        raise DataError(f"{where}: unknown or non-element species {unknown}")
    if len(structure) > 1:
        distances = structure.distance_matrix + np.eye(len(structure)) * 1e9
        closest = float(distances.min())
        if closest < MIN_DISTANCE:
            i, j = np.unravel_index(int(np.argmin(distances)), distances.shape)
            raise DataError(
                f"{where}: atoms {i} and {j} are {closest:.3f} A apart (overlapping; "
                f"the minimum accepted is {MIN_DISTANCE} A)"
            )
    if len(structure) == 1:  # a periodic image can still sit on top of the atom
        neighbours = structure.get_neighbors(structure[0], MIN_DISTANCE)
        if neighbours:
            raise DataError(f"{where}: the atom overlaps its periodic image (cell too small)")


PYMATGEN_SUFFIXES = (".cif", ".vasp", ".poscar")
PYMATGEN_NAMES = ("POSCAR", "CONTCAR")


def read_structure_file(path: Path) -> Structure:
    """One structure from a CIF / POSCAR (pymatgen) or an extxyz or other ASE format."""
    from pymatgen.core.structure import Structure

    name = path.name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # CIF readers warn about every rounding they do
            if path.suffix.lower() in PYMATGEN_SUFFIXES or any(
                name.upper().startswith(n) for n in PYMATGEN_NAMES
            ):
                structure = Structure.from_file(path)
            else:
                import ase.io
                from pymatgen.io.ase import AseAtomsAdaptor

                atoms: Any = ase.io.read(path, index=0)
                if not all(atoms.pbc):
                    raise DataError(f"{path}: not periodic (pbc={list(atoms.pbc)}); need a crystal")
                structure = AseAtomsAdaptor.get_structure(atoms)
    except DataError:
        raise
    except Exception as exc:  # every reader has its own exception types
        raise DataError(f"{path}: not a readable structure ({reason(exc)})") from None
    check_structure(structure, where=str(path))
    return structure
