"""A user's `.h5ad` end to end through label projection, and its bad inputs, each one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay.builtin import plugin as core_plugin
from assay.data import Dataset
from assay.errors import DataError, SplitError
from assay.executors import SerialExecutor
from assay.plugin import Catalog
from assay.runner import GridEntry, plan_grid
from assay.spec import ModelEntry
from assay_lifesci.batches import held_out_batches
from assay_lifesci.plugin import plugin


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    return Catalog.from_plugins([core_plugin, plugin])


def write_counts_h5ad(path: Path, *, n_cells: int = 240, seed: int = 0) -> Path:
    """Three cell types in three batches, Poisson counts with type markers and a batch shift,
    written by scanpy as a user would write theirs."""
    import anndata
    import pandas as pd
    import scanpy as sc

    rng = np.random.default_rng(seed)
    n_genes = 60
    types = rng.choice(["B cell", "NK cell", "monocyte"], size=n_cells)
    batches = np.repeat(["donor1", "donor2", "donor3"], n_cells // 3)
    rate = np.full((n_cells, n_genes), 1.0)
    for k, name in enumerate(["B cell", "NK cell", "monocyte"]):
        rate[types == name, k * 10 : k * 10 + 10] *= 8.0
    rate *= np.where(batches == "donor2", 1.5, 1.0)[:, None]
    adata = anndata.AnnData(
        X=rng.poisson(rate).astype(np.float32),
        obs=pd.DataFrame(
            {"cell_type": types, "donor": batches}, index=[f"cell{i}" for i in range(n_cells)]
        ),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]),
    )
    sc.write(path, adata)
    return path


def test_h5ad_written_by_scanpy_runs_end_to_end(catalog: Catalog, tmp_path: Path) -> None:
    user_file = write_counts_h5ad(tmp_path / "my_cells.h5ad")
    params = {"path": str(user_file), "target": "cell_type", "batch": "donor"}
    models = [ModelEntry(name="majority"), ModelEntry(name="lifesci.logistic")]
    entry = GridEntry("lifesci/label-projection", models, source_params=params)
    tasks = plan_grid(catalog, [entry], "quick")
    assert len(tasks) == 6  # three held-out donors x two models
    results = list(SerialExecutor(catalog).run(tasks))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    logistic = [r.metrics["f1_macro"] for r in results if r.task.model.name == "lifesci.logistic"]
    assert min(logistic) > 0.9  # the markers are strong; the batch shift does not hide them


def test_batches_are_kept_whole_on_both_sides() -> None:
    from assay.data import DatasetMetadata

    batches = np.array(["a", "b", "a", "c", "b", "c"])
    dataset = Dataset(
        inputs=np.zeros((6, 2)),
        targets=np.zeros(6),
        groups=batches,
        metadata=DatasetMetadata(name="t", version="1", provenance="test", licence="test"),
    )
    folds = held_out_batches(dataset, folds=1, repeats=1, seed=0)
    assert len(folds) == 3
    for fold in folds:
        assert not set(batches[fold.train]) & set(batches[fold.test])
        assert len(set(batches[fold.test])) == 1
    only = held_out_batches(dataset, folds=1, repeats=1, seed=0, test_batch="c")
    assert [set(batches[f.test]) for f in only] == [{"c"}]
    with pytest.raises(SplitError, match="not a batch"):
        held_out_batches(dataset, folds=1, repeats=1, seed=0, test_batch="z")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"target": "celltype"}, "no obs column 'celltype' for the label"),
        ({"batch": "sample"}, "no obs column 'sample' for the batch"),
        ({"layer": "counts"}, "no layer 'counts'"),
        ({"top_genes": 1}, "'top_genes': Input should be greater than or equal to 2"),
    ],
)
def test_bad_h5ad_parameters_are_one_line(
    catalog: Catalog, tmp_path: Path, params: dict[str, object], message: str
) -> None:
    user_file = write_counts_h5ad(tmp_path / "cells.h5ad", n_cells=30)
    source = {"path": str(user_file), "target": "cell_type", "batch": "donor", **params}
    entry = GridEntry(
        "lifesci/label-projection", [ModelEntry(name="majority")], source_params=source
    )
    with pytest.raises(DataError) as info:
        plan_grid(catalog, [entry], "quick")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert not list((tmp_path / "home").rglob("expression.npy")), "half-written cache left behind"


def test_a_file_that_is_not_h5ad_is_one_line(catalog: Catalog, tmp_path: Path) -> None:
    bad = tmp_path / "cells.h5ad"
    bad.write_text("cell,type\n1,B\n")
    source = {"path": str(bad), "target": "type", "batch": "b"}
    entry = GridEntry(
        "lifesci/label-projection", [ModelEntry(name="majority")], source_params=source
    )
    with pytest.raises(DataError, match=r"cells.h5ad: not a readable .h5ad file") as info:
        plan_grid(catalog, [entry], "quick")
    assert "\n" not in str(info.value)
