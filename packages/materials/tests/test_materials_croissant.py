"""`assay data export` of materials: formulas, and structures as extxyz, through Croissant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay.conformance.checks import check_croissant_export, exportable_suite_scenarios

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


STANDARD = Path(__file__).resolve().parents[3] / "scenarios" / "standard.toml"
EXPORTABLE_STANDARD = [
    "materials/expt-formation-enthalpy",
    "materials/expt-formation-enthalpy-chemsys",
    "materials/emt-alloys",
    "materials/emt-alloys-binary",
    "materials/emt-alloys-stability",
]
"""The plugin's standard scenarios that `assay data export` serves, in suite order; a new
one fails the next test until it is listed here (and so round-trips below).
materials/alloy-discovery is left out: a closed loop has no folds of rows."""
ROUND_TRIPPED_ABOVE = {"materials/emt-alloys", "materials/expt-formation-enthalpy-chemsys"}
"""Round-tripped by a test above with further checks of their own."""


def test_the_exportable_standard_scenarios_are_the_listed_ones() -> None:
    assert list(exportable_suite_scenarios(STANDARD, "materials")) == EXPORTABLE_STANDARD


@pytest.mark.parametrize(
    "scenario", [s for s in EXPORTABLE_STANDARD if s not in ROUND_TRIPPED_ABOVE]
)
def test_a_standard_scenario_export_round_trips(scenario: str, tmp_path: Path) -> None:
    ref = exportable_suite_scenarios(STANDARD, "materials")[scenario]
    check_croissant_export(ref, tmp_path / "export", max_rows=40)
