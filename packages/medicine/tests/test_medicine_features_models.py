"""Featurizers (shapes, cache, NaN/inf handling) and models (controls, kNN, D-MPNN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay.data.cache import DataCache
from assay.data.dataset import Dataset, DatasetMetadata
from assay.errors import DataError, UnknownNameError
from assay.evaluation.models import build_model
from assay_medicine import featurizers
from assay_medicine.featurizers import FeatureCache, MoleculeFeaturizer, featurize
from assay_medicine.models import (
    ESOLModel,
    PhysicsColumnModel,
    TanimotoKNN,
    esol_terms,
    tanimoto_similarity,
)
from assay_medicine.plugin import plugin
from assay_medicine.sources import SolubilitySource

SMILES = ["CCO", "c1ccccc1", "Cc1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CCCCCC", "OC1CCCCC1", "C", "O"]


def molecules(
    smiles: list[str], targets: list[float] | None = None, **extras: list[float]
) -> Dataset:
    y = np.asarray(targets if targets is not None else np.arange(len(smiles)), dtype=float)
    return Dataset(
        inputs=np.asarray(smiles, dtype=object),
        targets=y,
        metadata=DatasetMetadata(name="tiny", version="1", provenance="test", licence="test"),
        extras={k: np.asarray(v, dtype=float) for k, v in extras.items()},
        task="regression",
    )


@pytest.mark.parametrize(
    ("spec", "width"),
    [("ecfp4", 2048), ("ecfp4_counts", 2048), ("maccs", 167), ("ecfp4+maccs", 2215)],
)
def test_feature_shapes(spec: str, width: int) -> None:
    x = featurize(SMILES, spec, FeatureCache())
    assert x.shape == (len(SMILES), width)
    assert np.all(np.isfinite(x))


def test_descriptors_are_finite_and_named() -> None:
    x = featurize(SMILES, "rdkit2d", FeatureCache())
    assert x.shape == (len(SMILES), len(featurizers.descriptor_names()))
    assert np.all(np.isfinite(x))
    assert np.abs(x).max() <= featurizers.DESCRIPTOR_CLIP


def test_descriptor_nan_inf_and_failures_are_handled(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(mol: object) -> float:
        raise ZeroDivisionError

    fake = [
        ("nan", lambda m: float("nan")),
        ("inf", lambda m: float("inf")),
        ("huge", lambda m: 1e30),
        ("fails", fails),
        ("fine", lambda m: 2.5),
    ]
    monkeypatch.setattr(featurizers.Descriptors, "_descList", fake)
    x = featurize(["CCO"], "rdkit2d", FeatureCache())
    assert x.tolist() == [[0.0, 0.0, 1e6, 0.0, 2.5]]


def test_cache_serves_repeats() -> None:
    cache = FeatureCache()
    first = featurize(SMILES, "ecfp4+rdkit2d", cache)
    assert cache.misses == 2 * len(SMILES)
    assert cache.hits == 0
    second = featurize(SMILES, "ecfp4+rdkit2d", cache)
    assert cache.hits == 2 * len(SMILES)
    np.testing.assert_array_equal(first, second)


def test_disk_store_serves_another_process_and_survives_corruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay_medicine.feature_store import default_store_path

    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    writer = FeatureCache(disk=True)
    first = featurize(SMILES, "ecfp4_counts+maccs", writer)
    assert writer.misses == 2 * len(SMILES)
    reader = FeatureCache(disk=True)  # a fresh process's cache: nothing in memory
    np.testing.assert_array_equal(featurize(SMILES, "ecfp4_counts+maccs", reader), first)
    assert (reader.disk_hits, reader.misses) == (2 * len(SMILES), 0)

    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "other"))
    default_store_path().parent.mkdir(parents=True)
    default_store_path().write_bytes(b"not a database" * 100)
    broken = FeatureCache(disk=True)
    np.testing.assert_array_equal(featurize(SMILES, "ecfp4_counts+maccs", broken), first)
    assert broken.misses == 2 * len(SMILES)


def test_unknown_feature_block() -> None:
    with pytest.raises(UnknownNameError, match="ecfp6"):
        MoleculeFeaturizer("ecfp4+ecfp6")


def test_physics_control_predicts_the_calc_column() -> None:
    data = molecules(SMILES[:3], [1.0, 2.0, 3.0], calc=[1.5, 2.5, 2.0])
    model = PhysicsColumnModel()
    model.fit(data)
    assert model.predict(data).values.tolist() == [1.5, 2.5, 2.0]
    with pytest.raises(DataError, match="no 'calc' column"):
        model.fit(molecules(SMILES[:3]))


def test_esol_equation() -> None:
    terms = esol_terms("c1ccccc1")
    assert terms[0] == 1.0
    assert terms[4] == 1.0
    assert terms[3] == 0.0  # no rotatable bonds
    model = ESOLModel()
    model.fit(molecules(["c1ccccc1"], [0.0]))
    expected = 0.16 - 0.63 * terms[1] - 0.0062 * terms[2] - 0.74
    assert model.predict(molecules(["c1ccccc1"])).values[0] == pytest.approx(expected)


def test_unfitted_esol_on_the_solubility_test_set(tmp_path: Path) -> None:
    dataset, _ = DataCache(tmp_path).load(SolubilitySource(), {})
    test = dataset.subset(np.flatnonzero(np.asarray(dataset.partition) == "test"))
    assert test.targets is not None
    prediction = ESOLModel().predict(test).values
    rmse = float(np.sqrt(np.mean((prediction - test.targets) ** 2)))
    assert rmse == pytest.approx(0.99, abs=0.05)  # docs/references.md: ESOL unfitted 0.99


def test_tanimoto() -> None:
    a = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=float)
    b = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=float)
    sim = tanimoto_similarity(a, b)
    np.testing.assert_allclose(sim, [[1.0, 0.0, 0.5], [0.0, 0.0, 0.0]])


def test_knn_finds_the_same_molecule() -> None:
    train = molecules(SMILES, list(range(len(SMILES))))
    model = TanimotoKNN(k=1)
    model.fit(train)
    assert model.predict(molecules(["Cc1ccccc1", "CCCCCC"])).values.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("name", sorted(plugin.models))
def test_every_model_builds_by_name(name: str) -> None:
    from assay.plugin import Catalog

    catalog = Catalog.from_plugins([plugin])
    model = build_model(name, dict(plugin.check_params.get(name, {})), catalog.models)
    calc = [float(v) for v in range(len(SMILES))]
    train = molecules(SMILES * 3, [v + 0.1 * i for i in range(3) for v in calc], calc=calc * 3)
    test = molecules(SMILES[:3], calc=calc[:3])
    model.fit(train, seed=0)
    values = np.asarray(model.predict(test).values)
    assert values.shape == (3,)
    assert np.isfinite(values).all()
