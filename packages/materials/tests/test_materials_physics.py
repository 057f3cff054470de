"""Physics checks: EMT lattice constants, an ordered alloy, enthalpy units, sane geometry."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from assay_materials import emt
from assay_materials.sources import EV_PER_KJ_MOL, experimental_enthalpies
from assay_materials.structures import MIN_DISTANCE


@pytest.mark.parametrize("symbol", emt.ELEMENTS)
def test_emt_lattice_constant_within_3_percent_of_experiment(symbol: str) -> None:
    _, a = emt.elemental_reference(symbol)
    expected = emt.EXPERIMENTAL_LATTICE[symbol]
    assert abs(a - expected) / expected < 0.03, f"{symbol}: EMT a = {a:.3f} A, expt {expected}"


def test_l12_cu3au_has_negative_formation_energy() -> None:
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.75, cubic=True)
    atoms.set_chemical_symbols(["Au", "Cu", "Cu", "Cu"])
    energy, _, converged = emt.relax(atoms)
    assert converged
    formation = emt.formation_energy(energy, atoms.get_chemical_symbols())
    # EMT gives about -10 meV/atom (experiment: -0.07 eV/atom); the sign is the check.
    assert -0.05 < formation < 0.0


# Standard formation enthalpies at 298 K, kJ/mol (NIST-JANAF / CRC), and atoms per formula unit.
KNOWN_ENTHALPIES = {
    "NaCl": (-411.2, 2),
    "CaO": (-635.1, 2),
    "ZnO": (-350.5, 2),
    "Ag2CO3": (-505.8, 6),
}


@pytest.mark.parametrize("formula", sorted(KNOWN_ENTHALPIES))
def test_enthalpy_per_formula_unit_becomes_ev_per_atom(formula: str) -> None:
    table = {f: (e, n) for f, e, n in experimental_enthalpies()}
    per_atom, atoms = table[formula]
    kj_mol, expected_atoms = KNOWN_ENTHALPIES[formula]
    assert atoms == expected_atoms
    assert per_atom == pytest.approx(kj_mol * EV_PER_KJ_MOL / atoms, abs=0.01)


def test_enthalpy_table_has_every_compound() -> None:
    rows = experimental_enthalpies()
    values = np.array([e for _, e, _ in rows])
    assert len(rows) == 2135
    assert values.min() > -4.6
    assert values.max() < 0.4
    assert values.mean() == pytest.approx(-1.013, abs=0.01)


def test_relaxed_decorations_have_no_overlapping_atoms() -> None:
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    candidates = emt.draw_candidates(12, seed=3, min_atoms=4, max_atoms=8)
    for record in [emt.relax_candidate(c) for c in candidates]:
        assert record["converged"]
        structure = Structure(Lattice(record["lattice"]), record["symbols"], record["frac_coords"])
        distances = structure.distance_matrix + np.eye(len(structure)) * 1e9
        # fcc nearest neighbours of these metals sit at 2.4-2.9 A.
        assert distances.min() > max(MIN_DISTANCE, 2.2)
        # EMT formation energies of these alloys lie within a few tenths of an eV per atom.
        assert abs(emt.formation_energy(record["energy"], record["symbols"])) < 0.5


def test_candidates_are_seeded_and_extend() -> None:
    small = emt.draw_candidates(10, seed=1, max_atoms=8)
    large = emt.draw_candidates(20, seed=1, max_atoms=8)
    assert large[:10] == small
    assert emt.draw_candidates(10, seed=2, max_atoms=8) != small
    for candidate in large:
        assert 4 <= len(candidate.symbols) <= 8
        assert len(set(candidate.symbols)) == 2
        assert not set(candidate.symbols) - set(emt.ELEMENTS)


def test_hull_of_a_known_set() -> None:
    formulas = [{"Cu": 1, "Au": 1}, {"Cu": 3, "Au": 1}, {"Cu": 1, "Au": 3}]
    above = emt.hull_distances(formulas, np.array([-0.10, -0.02, 0.01]))
    assert above[0] == pytest.approx(0.0, abs=1e-9)
    # Cu3Au at x_Au 0.25: the hull is the Cu - CuAu line, -0.05 there.
    assert above[1] == pytest.approx(0.03, abs=1e-9)
    assert above[2] == pytest.approx(0.06, abs=1e-9)


def test_emt_data_bytes_survive_another_cpus_rounding_noise(tmp_path: Path) -> None:
    """Two machines relax the same cells about 1e-13 apart (energies, coordinates, cells); the
    stored files, hence the data sha, must be the same bytes on both."""
    from assay.data.dataset import sha256_file
    from assay_materials.sources import EmtAlloysSource, store_relaxed

    candidates = emt.draw_candidates(4, seed=0, min_atoms=4, max_atoms=6)
    records = [emt.relax_candidate(c) for c in candidates]
    noisy = copy.deepcopy(records)
    for k, record in enumerate(noisy):
        sign = 1 if k % 2 else -1
        record["energy"] += sign * 3e-13
        record["lattice"] = (np.asarray(record["lattice"]) + sign * 2e-12).tolist()
        frac = np.asarray(record["frac_coords"]) + sign * 1e-13
        record["frac_coords"] = (frac % 1.0).tolist()  # an atom at 0 wraps to 0.9999999999999
    assert any(x > 0.999 for r in noisy for x in np.ravel(r["frac_coords"]))
    written = {}
    for name, rows in (("here", records), ("there", noisy)):
        out = tmp_path / name
        out.mkdir()
        store_relaxed(EmtAlloysSource(), out, rows, ["note"])
        written[name] = {p.name: sha256_file(p) for p in sorted(out.iterdir())}
    assert {"structures.json", "targets.npy", "extra-e_above_hull.npy"} <= set(written["here"])
    assert written["here"] == written["there"]
