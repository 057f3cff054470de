"""Matbench folds, leave-one-group-out, source parameters and the alloy pool."""

from __future__ import annotations

import numpy as np
import pytest
from assay.data.dataset import Dataset, DatasetMetadata
from assay.errors import DataError, SplitError
from assay_materials.alloy_loop import AlloyPool
from assay_materials.sources import EmtAlloysSource
from assay_materials.splits import leave_one_group_out, matbench_folds
from pymatgen.core.lattice import Lattice
from pymatgen.core.structure import Structure
from sklearn.model_selection import KFold

META = DatasetMetadata(name="toy", version="1", provenance="test", licence="test")


def _data(n: int, groups: list[str] | None = None) -> Dataset:
    return Dataset(
        inputs=np.array(["CuAu"] * n, dtype=object),
        targets=np.arange(n, dtype=float),
        groups=None if groups is None else np.array(groups),
        metadata=META,
    )


def test_matbench_folds_are_matbenchs_kfold() -> None:
    folds = matbench_folds(_data(103), folds=5, repeats=1, seed=123)
    expected = KFold(5, shuffle=True, random_state=18012019).split(np.zeros(103))
    for fold, (_, test) in zip(folds, expected, strict=True):
        assert np.array_equal(fold.test, np.sort(test))
    with pytest.raises(SplitError, match="Matbench's 5 folds once"):
        matbench_folds(_data(103), folds=5, repeats=3, seed=0)


def test_leave_one_group_out_holds_out_each_system_once() -> None:
    groups = ["Au-Cu"] * 4 + ["Ag-Pd"] * 3 + ["Ni-Pt"] * 5
    folds = leave_one_group_out(_data(12, groups), folds=3, repeats=1, seed=0)
    assert [len(f.test) for f in folds] == [3, 4, 5]  # groups in sorted order
    for fold in folds:
        assert len({groups[i] for i in fold.test}) == 1
        assert not {groups[i] for i in fold.test} & {groups[i] for i in fold.train}
    with pytest.raises(SplitError, match="one fold per group"):
        leave_one_group_out(_data(12, groups), folds=5, repeats=1, seed=0)


@pytest.mark.parametrize(
    "params",
    [{"n_structures": 5}, {"min_atoms": 9, "max_atoms": 4}, {"elements": "CuAl"}, {"seed": -1}],
)
def test_emt_source_refuses_bad_parameters(params: dict[str, object]) -> None:
    with pytest.raises(DataError):
        EmtAlloysSource().validate_params(params)


def test_alloy_pool_reveals_negative_formation_energy_and_its_cost() -> None:
    structures = np.empty(3, dtype=object)
    for i, a in enumerate((3.7, 3.8, 3.9)):
        structures[i] = Structure(Lattice.cubic(a), ["Au", "Cu"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    data = Dataset(
        inputs=structures,
        targets=np.array([-0.05, 0.01, -0.02]),
        extras={"steps": np.array([10, 20, 30])},
        metadata=META,
    )
    pool = AlloyPool(data)
    candidates = pool.reset(0)
    assert len(candidates) == 3
    assert pool.optimum == pytest.approx(0.05)
    measured = pool.measure(candidates.take([2, 0]))
    assert measured.values.tolist() == pytest.approx([0.02, 0.05])
    assert measured.cost is not None
    assert measured.cost.tolist() == [60.0, 20.0]  # steps x atoms


@pytest.mark.parametrize(
    ("policy", "module", "name", "package"),
    [
        ("materials.chgnet_prior", "chgnet", "CHGNET", "chgnet"),
        ("materials.sevennet_prior", "sevennet", "SEVENNET", "sevenn"),
    ],
)
def test_foundation_priors_measure_what_their_potential_calls_most_stable_first(
    monkeypatch: pytest.MonkeyPatch, policy: str, module: str, name: str, package: str
) -> None:
    import importlib
    import importlib.util

    from assay.errors import NotInstalledError
    from assay.loop.closed_loop import build_policy
    from assay.plugin import process_catalog

    policies = process_catalog().policies
    real = importlib.util.find_spec
    with monkeypatch.context() as without:
        without.setattr(
            importlib.util, "find_spec", lambda n, *a: None if n == package else real(n, *a)
        )
        with pytest.raises(NotInstalledError, match=rf"policy '{policy}' needs .*not installed"):
            build_policy(policy, {}, policies)
    if real(package) is None:
        pytest.skip("the foundation extra is not installed")
    potential = getattr(importlib.import_module(f"assay_materials.{module}"), name)
    # the potential's zero-shot formation energies, read off the cells' lattice constants
    monkeypatch.setattr(
        potential,
        "zero_shot_formation",
        lambda data: np.array([s.lattice.a - 3.85 for s in data.inputs]),
    )
    structures = np.empty(4, dtype=object)
    for i, a in enumerate((3.9, 3.7, 4.0, 3.8)):
        structures[i] = Structure(Lattice.cubic(a), ["Au", "Cu"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    data = Dataset(
        inputs=structures, targets=np.zeros(4), extras={"steps": np.ones(4)}, metadata=META
    )
    candidates = AlloyPool(data).reset(0)
    chosen = build_policy(policy, {}, policies).suggest(None, candidates, 2, seed=0)  # type: ignore[arg-type]
    assert chosen.ids.tolist() == ["1", "3"]  # the two lowest formation energies
