"""The D-MPNN: graph construction, batching, training on the core loop, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from assay.data.cache import DataCache
from assay.data.dataset import Dataset, DatasetMetadata
from assay.data.splits import make_split
from assay_medicine.deep import ATOM_DIM, BOND_DIM, DMPNNModel, collate, dmpnn, mol_graph
from assay_medicine.sources import FreeSolvSource

SMILES = ["CCO", "c1ccccc1O", "CC(=O)N", "C", "[Cl-]", "CCN(CC)CC", "c1ccncc1", "OCC(O)CO"] * 3


def molecules(smiles: list[str]) -> Dataset:
    y = np.array([len(s) + 0.1 * i for i, s in enumerate(smiles)], dtype=float)
    return Dataset(
        inputs=np.asarray(smiles, dtype=object),
        targets=y,
        metadata=DatasetMetadata(name="tiny", version="1", provenance="test", licence="test"),
        task="regression",
    )


def test_graph_has_directed_bond_pairs() -> None:
    graph = mol_graph("CC(=O)O")
    assert graph.atoms.shape == (4, ATOM_DIM)
    assert graph.bonds.shape == (6, BOND_DIM)
    np.testing.assert_array_equal(graph.src[0::2], graph.dst[1::2])


def test_collate_offsets_and_reverse_edges() -> None:
    graphs = [mol_graph(s) for s in ["CCO", "C", "c1ccccc1"]]
    batch = collate(graphs, np.zeros((3, 0), dtype=np.float32))
    assert batch.atoms.shape[0] == 3 + 1 + 6
    assert torch.equal(batch.src[batch.rev], batch.dst)  # rev(u->v) is v->u
    assert batch.molecule.tolist() == [0, 0, 0, 1] + [2] * 6
    assert batch.to(torch.device("cpu")).n_molecules == 3


@pytest.mark.parametrize("options", [{}, {"descriptors": True, "aggregation": "sum"}])
def test_fits_and_predicts_deterministically(options: dict[str, object]) -> None:
    data = molecules(SMILES)
    params = {"hidden": 16, "ffn_hidden": 16, "max_epochs": 3, "batch_size": 8, **options}
    first, second = dmpnn(**params), dmpnn(**params)
    first.fit(data, seed=7)
    second.fit(data, seed=7)
    a, b = first.predict(data).values, second.predict(data).values
    assert a.shape == (len(SMILES),)
    assert np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert len(first.training_.train_losses) <= 3


def test_uses_the_protocol_validation_set() -> None:
    data = molecules(SMILES)
    model = dmpnn(hidden=8, ffn_hidden=8, max_epochs=2)
    model.fit(data.subset(range(16)), valid=data.subset(range(16, 24)), seed=0)
    assert len(model.training_.valid_losses) == 2
    assert model.fitted_choices()["kept_on"] == "validation"  # tagged on the run


@pytest.mark.slow
def test_freesolv_one_fold_beats_physics(tmp_path: Path) -> None:
    dataset, _ = DataCache(tmp_path).load(FreeSolvSource(), {})
    fold = make_split(dataset, "kfold", folds=5, repeats=1, seed=0).folds[0]
    model = DMPNNModel()
    model.fit(dataset.subset(fold.train), seed=0)
    test = dataset.subset(fold.test)
    assert test.targets is not None
    rmse = float(np.sqrt(np.mean((model.predict(test).values - test.targets) ** 2)))
    assert rmse < 1.54
