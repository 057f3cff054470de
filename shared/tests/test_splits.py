from __future__ import annotations

import numpy as np
import pytest
from assay.data.dataset import Dataset, DatasetMetadata
from assay.data.splits import Fold, carve_validation, check_no_leakage, make_split
from assay.errors import SplitError

META = DatasetMetadata("d", "1", provenance="test", licence="CC0")


def dataset(n: int = 60, *, partition: bool = False) -> Dataset:
    rng = np.random.default_rng(1)
    groups = rng.choice(
        [f"g{i}" for i in range(12)],
        size=n,
        p=np.linspace(3, 0.5, 12) / np.linspace(3, 0.5, 12).sum(),
    )
    part = np.where(np.arange(n) < n * 0.8, "train", "test") if partition else None
    return Dataset(rng.normal(size=(n, 2)), np.arange(n) % 3, META, groups=groups, partition=part)


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("kfold", {}),
        ("stratified", {}),
        ("group_kfold", {}),
        ("balanced_group", {}),
        ("balanced_group", {"test_fraction": 0.2}),
        ("random_holdout", {"test_fraction": 0.25}),
    ],
)
def test_deterministic_disjoint_and_complete(kind: str, params: dict[str, float]) -> None:
    ds = dataset()
    a = make_split(ds, kind, folds=4, repeats=2, seed=3, params=params)
    b = make_split(ds, kind, folds=4, repeats=2, seed=3, params=params)
    assert a.sha256 == b.sha256
    assert len(a.sha256) == 64
    for fold in a.folds:
        assert len(np.intersect1d(fold.train, fold.test)) == 0
        assert len(fold.train) + len(fold.test) == len(ds)
    if kind in {"group_kfold", "balanced_group"}:
        for fold in a.folds:
            assert not set(ds.groups[fold.train]) & set(ds.groups[fold.test])
    c = make_split(ds, kind, folds=4, repeats=2, seed=4, params=params)
    assert c.sha256 != a.sha256


def test_kfold_covers_every_row_once_per_repeat() -> None:
    split = make_split(dataset(), "kfold", folds=5, repeats=3, seed=0)
    assert len(split.folds) == 15
    for repeat in range(3):
        tests = np.concatenate([f.test for f in split.folds if f.repeat == repeat])
        np.testing.assert_array_equal(np.sort(tests), np.arange(60))


def test_balanced_group_puts_large_groups_first_into_train() -> None:
    groups = np.array(["big"] * 30 + [f"s{i}" for i in range(30)])
    ds = Dataset(np.zeros((60, 1)), np.zeros(60), META, groups=groups)
    for seed in range(5):
        fold = make_split(
            ds, "balanced_group", folds=1, repeats=1, seed=seed, params={"test_fraction": 0.2}
        ).folds[0]
        assert set(np.flatnonzero(groups == "big")) <= set(fold.train)
        assert len(fold.test) == 12


def test_balanced_group_kfold_balances_sizes() -> None:
    split = make_split(dataset(200), "balanced_group", folds=4, repeats=1, seed=0)
    sizes = [len(f.test) for f in split.folds]
    assert max(sizes) - min(sizes) <= max(np.unique(dataset(200).groups, return_counts=True)[1])


def test_fixed_split_uses_partition() -> None:
    ds = dataset(partition=True)
    split = make_split(ds, "fixed", folds=1, repeats=1, seed=0)
    np.testing.assert_array_equal(split.folds[0].test, np.arange(48, 60))
    with pytest.raises(SplitError, match="needs dataset partition"):
        make_split(dataset(), "fixed", folds=1, repeats=1, seed=0)


def test_leakage_is_detected() -> None:
    groups = np.array([0, 0, 1, 1])
    with pytest.raises(SplitError, match="in both train and test"):
        check_no_leakage(Fold(0, 0, np.array([0, 1]), np.array([1, 2])), 4)
    with pytest.raises(SplitError, match="groups are in both train and test"):
        check_no_leakage(Fold(0, 0, np.array([0, 2]), np.array([1, 3])), 4, groups)
    with pytest.raises(SplitError, match="outside"):
        check_no_leakage(Fold(0, 0, np.array([0, 9]), np.array([1])), 4)


def test_unknown_split_and_bad_params() -> None:
    from assay.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown split 'kfolds'; did you mean kfold"):
        make_split(dataset(), "kfolds", folds=2, repeats=1, seed=0)
    with pytest.raises(SplitError, match="bad parameters"):
        make_split(dataset(), "kfold", folds=2, repeats=1, seed=0, params={"colour": 1})


def test_carve_validation_keeps_groups_whole() -> None:
    groups = np.repeat(np.arange(10), 5)
    fit, valid = carve_validation(np.arange(50), 0.2, seed=0, groups=groups)
    assert not set(groups[fit]) & set(groups[valid])
    assert len(valid) >= 10
    fit2, valid2 = carve_validation(np.arange(50), 0.2, seed=0)
    assert len(valid2) == 10
    assert len(np.intersect1d(fit2, valid2)) == 0


def test_validation_keeps_groups_whole_when_the_split_does() -> None:
    from assay.evaluation.protocols import _groups_kept_whole

    data = dataset()
    groups = np.asarray(data.groups)
    # A plugin's split that puts whole groups on each side (like circuits by depth).
    whole = np.isin(groups, ["g0", "g1", "g2"])
    by_group = make_split(data, "kfold", folds=2, repeats=1, seed=0)
    fold = Fold(0, 0, np.flatnonzero(~whole), np.flatnonzero(whole))
    kept = _groups_kept_whole(by_group, fold, data)
    assert kept is not None
    np.testing.assert_array_equal(kept, groups)
    # A row split where groups straddle: validation is cut by rows, as before.
    assert _groups_kept_whole(by_group, by_group.folds[0], data) is None
    # A group split always keeps them whole; a dataset without groups never.
    group_split = make_split(data, "group_kfold", folds=3, repeats=1, seed=0)
    assert _groups_kept_whole(group_split, group_split.folds[0], data) is not None
    no_groups = Dataset(data.inputs, data.targets, META)
    assert _groups_kept_whole(by_group, fold, no_groups) is None


def test_a_plugins_group_split_is_checked_for_group_leakage() -> None:
    from assay.data.splits import SPLITTERS, Splitter
    from assay.registry import Registry

    def halves(data: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
        n = len(data)
        return [Fold(0, 0, np.arange(n // 2 + 1), np.arange(n // 2 + 1, n))]

    data = dataset()
    registry: Registry[Splitter] = Registry("split")
    registry.update(SPLITTERS)
    registry.register("rows", Splitter(halves))
    registry.register("by_group", Splitter(halves, keeps_groups=True))
    assert not make_split(data, "rows", folds=1, repeats=1, seed=0, splitters=registry).keeps_groups
    with pytest.raises(SplitError, match="groups are in both train and test"):
        make_split(data, "by_group", folds=1, repeats=1, seed=0, splitters=registry)


def test_a_folds_own_validation_rows_are_checked_and_hashed() -> None:
    from assay.data.splits import hash_folds

    train, test = np.arange(0, 6), np.arange(8, 10)
    with_valid = Fold(0, 0, train, test, valid=np.array([6, 7]))
    check_no_leakage(with_valid, 10)
    assert hash_folds("x", [with_valid]) != hash_folds("x", [Fold(0, 0, train, test)])
    with pytest.raises(SplitError, match="in both train and valid"):
        check_no_leakage(Fold(0, 0, train, test, valid=np.array([5, 6])), 10)
