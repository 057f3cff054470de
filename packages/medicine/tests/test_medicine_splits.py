"""Scaffold splits: the core's group splitters on medicine's Bemis-Murcko groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay.data.cache import DataCache
from assay.data.dataset import Dataset
from assay.data.splits import carve_validation, make_split
from assay_medicine.sources import ChemblPic50Source, FreeSolvSource


@pytest.fixture(scope="module")
def freesolv(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    dataset, _ = DataCache(tmp_path_factory.mktemp("fs")).load(FreeSolvSource(), {})
    return dataset


@pytest.fixture(scope="module")
def chembl(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    dataset, _ = DataCache(tmp_path_factory.mktemp("chembl")).load(ChemblPic50Source(), {})
    return dataset


def _assert_scaffold_disjoint(dataset: Dataset, train: np.ndarray, test: np.ndarray) -> None:
    groups = np.asarray(dataset.groups)
    assert not set(groups[train]) & set(groups[test])
    assert len(np.intersect1d(train, test)) == 0


@pytest.mark.parametrize("kind", ["balanced_group", "group_kfold"])
def test_no_scaffold_on_both_sides(freesolv: Dataset, kind: str) -> None:
    split = make_split(freesolv, kind, folds=5, repeats=2, seed=0)
    assert len(split.folds) == 10
    for fold in split.folds:
        _assert_scaffold_disjoint(freesolv, fold.train, fold.test)
        assert len(fold.train) + len(fold.test) == len(freesolv)


def test_balanced_split_puts_the_big_scaffold_first(freesolv: Dataset) -> None:
    split = make_split(freesolv, "balanced_group", folds=5, repeats=1, seed=0)
    groups = np.asarray(freesolv.groups)
    acyclic_folds = [f.index for f in split.folds if np.any(groups[f.test] == "")]
    assert acyclic_folds == [0]  # the 320 acyclic molecules are one group, placed first


def test_balanced_split_is_deterministic_per_seed(chembl: Dataset) -> None:
    a = make_split(chembl, "balanced_group", folds=5, repeats=1, seed=3)
    b = make_split(chembl, "balanced_group", folds=5, repeats=1, seed=3)
    c = make_split(chembl, "balanced_group", folds=5, repeats=1, seed=4)
    assert a.sha256 == b.sha256
    assert a.sha256 != c.sha256


def test_tdc_scaffold_holdout(chembl: Dataset) -> None:
    params = {"test_fraction": 0.2}
    a = make_split(chembl, "balanced_group", folds=1, repeats=1, seed=0, params=params)
    b = make_split(chembl, "balanced_group", folds=1, repeats=1, seed=0, params=params)
    assert a.sha256 == b.sha256
    (fold,) = a.folds
    _assert_scaffold_disjoint(chembl, fold.train, fold.test)
    assert 0.15 < len(fold.test) / len(chembl) < 0.3
    groups = np.asarray(chembl.groups)
    for seed in (1, 2):  # TDC: seeded scaffold-grouped train/valid of the rest
        fit, valid = carve_validation(fold.train, 0.125, seed, groups)
        _assert_scaffold_disjoint(chembl, fit, valid)
        assert 0.05 < len(valid) / len(fold.train) < 0.3


def test_scaffold_groups_do_not_depend_on_row_order(freesolv: Dataset, tmp_path: Path) -> None:
    """A user's file in another row order gets the same scaffold for every molecule."""
    from assay_medicine.user_files import MoleculeFileSource

    order = np.random.default_rng(0).permutation(len(freesolv))
    path = tmp_path / "shuffled.csv"
    lines = [f"{freesolv.inputs[i]},{freesolv.targets[i]}" for i in order]
    path.write_text("smiles,expt\n" + "\n".join(lines) + "\n", encoding="utf-8")
    shuffled, _ = DataCache(tmp_path / "cache").load(
        MoleculeFileSource(), {"path": str(path), "target": "expt"}
    )
    original = dict(zip(freesolv.inputs, np.asarray(freesolv.groups), strict=True))
    again = dict(zip(shuffled.inputs, np.asarray(shuffled.groups), strict=True))
    assert again == original


def test_fixed_split_of_solubility_is_the_published_one(tmp_path: Path) -> None:
    from assay_medicine.sources import SolubilitySource

    dataset, _ = DataCache(tmp_path).load(SolubilitySource(), {})
    (fold,) = make_split(dataset, "fixed", folds=1, repeats=1, seed=0).folds
    assert len(fold.test) == 257
