"""The fcc cluster expansion: cluster counts that theory fixes, bad input, and a fit that learns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from assay.data.cache import DataCache
from assay.data.dataset import Dataset, DatasetMetadata
from assay.errors import DataError, SpecError
from assay.evaluation.models import MeanModel, build_model
from assay.plugin import process_catalog
from assay_materials.cluster_expansion import (
    SHELL_COORDINATION,
    ClusterExpansion,
    cluster_counts,
    feature_names,
)
from assay_materials.sources import EmtAlloysSource
from pymatgen.core.lattice import Lattice
from pymatgen.core.structure import Structure

META = DatasetMetadata(name="toy", version="1", provenance="test", licence="test")
FCC_SITES = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]


def _objects(items: list[Any]) -> np.ndarray[Any, Any]:
    out = np.empty(len(items), dtype=object)
    out[:] = items  # np.array([structure]) would unpack its sites
    return out


def test_relaxed_distortions_map_back_onto_the_ideal_sites() -> None:
    # A tetragonal L1_0 cell squeezed 13 % along c with atoms shifted 0.1 A: the strain and the
    # shifts are undone, so it counts like the ideal cell.
    ideal = Structure(Lattice.cubic(3.72), ["Ni", "Ni", "Pt", "Pt"], FCC_SITES)
    relaxed = Structure(
        Lattice.tetragonal(3.92, 3.23),
        ["Ni", "Ni", "Pt", "Pt"],
        np.array(FCC_SITES) + np.array([[0.02, 0, 0], [0, -0.02, 0.01], [0, 0, 0], [0.01, 0, 0]]),
    )
    assert cluster_counts(relaxed) == cluster_counts(ideal)


def test_pure_fcc_cell_has_the_fcc_shells_all_of_one_pair_type() -> None:
    counts = cluster_counts(Structure(Lattice.cubic(3.615), ["Cu"] * 4, FCC_SITES))
    for shell, coordination in enumerate(SHELL_COORDINATION, start=1):
        assert counts.coordination(shell) == coordination
        assert set(counts.pairs[shell - 1]) == {("Cu", "Cu")}
    assert counts.coordination(1) == 12
    assert dict(counts.triangles) == {("Cu", "Cu", "Cu"): 8 * 4}
    # The one-atom primitive cell: every neighbour is an image of the atom itself.
    primitive = Structure(
        Lattice([[0, 1.8, 1.8], [1.8, 0, 1.8], [1.8, 1.8, 0]]), ["Ni"], [[0, 0, 0]]
    )
    assert cluster_counts(primitive).coordination(1) == 12
    assert dict(cluster_counts(primitive).triangles) == {("Ni", "Ni", "Ni"): 8}


def test_l12_cu3au_has_no_gold_nearest_neighbour_pairs() -> None:
    counts = cluster_counts(Structure(Lattice.cubic(3.75), ["Au", "Cu", "Cu", "Cu"], FCC_SITES))
    n = counts.n_atoms
    first = {pair: c / n for pair, c in counts.pairs[0].items()}
    # Au has 12 Cu neighbours; each Cu has 4 Au and 8 Cu: per atom 6 Au-Cu and 6 Cu-Cu.
    assert first == {("Au", "Cu"): 6.0, ("Cu", "Cu"): 6.0}
    # Second shell (a): Au sits on a simple cubic sublattice, so its 6 are all Au.
    assert counts.pairs[1][("Au", "Au")] == 6
    # Two species: 2 points, 3 pair types in each of 4 shells, 4 triplet types.
    assert len(feature_names(("Au", "Cu"), 4, True)) == 2 + 4 * 3 + 4


def test_non_fcc_inputs_are_refused_with_one_line() -> None:
    bcc = Structure(Lattice.cubic(2.87), ["Cu", "Cu"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(DataError, match=r"not point in the 12 directions of fcc") as caught:
        cluster_counts(bcc, where="row 3")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("row 3:")
    squashed = Structure(
        Lattice.cubic(3.615), ["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.12, 0.1, 0]]
    )
    with pytest.raises(DataError, match="inside no fcc neighbour shell"):
        cluster_counts(squashed)
    vacancy = Structure(Lattice.cubic(3.615), ["Cu"] * 3, FCC_SITES[:3])
    with pytest.raises(DataError, match=r"has 8 neighbours in fcc shell 1, not 12"):
        cluster_counts(vacancy)
    stretched = Structure(Lattice.tetragonal(3.3, 3.3 * 1.6), ["Cu"] * 4, FCC_SITES)
    with pytest.raises(DataError, match="fcc"):
        cluster_counts(stretched)
    model = build_model("materials.cluster_expansion", {}, process_catalog().models)
    formulas = Dataset(
        inputs=np.array(["Cu3Au"] * 10, dtype=object), targets=np.zeros(10), metadata=META
    )
    with pytest.raises(DataError, match="needs structures"):
        model.fit(formulas, seed=0)
    with pytest.raises(SpecError, match="shells must be 1-4"):
        ClusterExpansion(shells=5)
    with pytest.raises(SpecError, match="regulariser"):
        ClusterExpansion(regulariser="elastic")


def test_a_species_never_seen_in_training_is_refused() -> None:
    train = Dataset(
        inputs=_objects(
            [Structure(Lattice.cubic(3.7), ["Au", "Cu", "Cu", "Cu"], FCC_SITES)] * 3
            + [Structure(Lattice.cubic(3.9), ["Au", "Au", "Cu", "Cu"], FCC_SITES)] * 3
        ),
        targets=np.array([-0.01] * 3 + [-0.008] * 3),
        metadata=META,
    )
    model = ClusterExpansion()
    model.fit(train, seed=0)
    test = Dataset(
        inputs=_objects([Structure(Lattice.cubic(3.8), ["Pt", "Cu", "Cu", "Cu"], FCC_SITES)]),
        targets=None,
        metadata=META,
    )
    with pytest.raises(DataError, match=r"species \['Pt'\] never occur in the training"):
        model.predict(test)


def test_cluster_expansion_beats_the_dummy_on_quick_emt_alloys(tmp_path: Path) -> None:
    from sklearn.model_selection import KFold

    params = {"n_structures": 80, "min_atoms": 4, "max_atoms": 8, "seed": 0}
    data, _ = DataCache(tmp_path).load(EmtAlloysSource(), params)
    assert data.targets is not None
    errors: dict[str, list[float]] = {"ce": [], "lasso": [], "mean": []}
    folds = KFold(5, shuffle=True, random_state=18012019).split(np.zeros(len(data)))
    for train_rows, test_rows in folds:
        train, test = data.subset(train_rows), data.subset(test_rows)
        models: tuple[tuple[str, Any], ...] = (
            ("ce", ClusterExpansion()),
            ("lasso", ClusterExpansion(regulariser="lasso")),
            ("mean", MeanModel()),
        )
        for name, model in models:
            model.fit(train, seed=0)
            predicted = np.asarray(model.predict(test.without_targets()).values)
            errors[name].append(float(np.mean(np.abs(predicted - data.targets[test_rows]))))
    ce, dummy = np.mean(errors["ce"]), np.mean(errors["mean"])
    assert ce < 0.7 * dummy, f"cluster expansion MAE {ce:.4f} vs Dummy {dummy:.4f} eV/atom"
    assert np.mean(errors["lasso"]) < 0.7 * dummy
