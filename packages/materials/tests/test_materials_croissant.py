"""`assay data export` of materials: formulas, and structures as extxyz, through Croissant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay.conformance.checks import check_croissant_export

pytest.importorskip("mlcroissant")


def test_emt_alloys_export_round_trips_with_structures_as_extxyz(tmp_path: Path) -> None:
    from ase.io import read

    bench = check_croissant_export("materials/emt-alloys", tmp_path / "export")
    frames = read(tmp_path / "export" / "structures.extxyz", index=":")
    structures = list(bench.dataset.inputs)
    assert len(frames) == len(structures)
    for row, (atoms, structure) in enumerate(zip(frames, structures, strict=True)):
        assert atoms.info["row"] == row
        assert atoms.get_chemical_symbols() == [str(s.specie) for s in structure]
        np.testing.assert_allclose(atoms.cell[:], structure.lattice.matrix, atol=1e-6)
        np.testing.assert_allclose(atoms.positions, structure.cart_coords, atol=1e-6)


def test_formation_enthalpy_export_round_trips_with_formulas(tmp_path: Path) -> None:
    check_croissant_export("materials/expt-formation-enthalpy-chemsys", tmp_path / "export")
