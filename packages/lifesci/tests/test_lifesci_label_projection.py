"""A user's `.h5ad` end to end through label projection, and its bad inputs, each one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay.builtin import plugin as core_plugin
from assay.data.dataset import Dataset, DatasetMetadata, sha256_file
from assay.engine.executors import SerialExecutor
from assay.engine.runner import GridEntry, plan_grid
from assay.errors import DataError, SplitError
from assay.plugin import Catalog
from assay.spec import ModelEntry
from assay_lifesci.plugin import plugin
from assay_lifesci.splits import held_out_batches


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
    from assay.data.dataset import DatasetMetadata

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


def write_h5ad(
    path: Path,
    *,
    obs: dict[str, list[str]],
    x: np.ndarray,
    raw: np.ndarray | None = None,
    layers: dict[str, np.ndarray] | None = None,
) -> Path:
    """A small AnnData written by anndata: `obs` columns, matrix `x`, `raw.X` and layers."""
    import anndata
    import pandas as pd

    n_cells, n_genes = x.shape
    adata = anndata.AnnData(
        X=x.astype(np.float32),
        obs=pd.DataFrame(obs, index=[f"cell{i}" for i in range(n_cells)]),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]),
    )
    for name, layer in (layers or {}).items():
        adata.layers[name] = layer
    if raw is not None:
        adata.raw = anndata.AnnData(X=raw, var=adata.var.copy())
    adata.write_h5ad(path)
    return path


def _cells(n_cells: int = 36, seed: int = 0) -> tuple[dict[str, list[str]], np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = {
        "cell_type": list(np.tile(["B", "T", "NK"], n_cells // 3)),
        "donor": list(np.repeat(["d1", "d2", "d3"], n_cells // 3)),
        "phase": list(np.tile(["G1", "S", "G2M", "G1"], n_cells // 4)),
    }
    return obs, rng.poisson(2.0, size=(n_cells, 12)).astype(np.float32)


def _plan(catalog: Catalog, source: dict[str, object], *, units: int = 3) -> DatasetMetadata:
    """The data card of the planned run; one unit per held-out batch."""
    entry = GridEntry(
        "lifesci/label-projection", [ModelEntry(name="majority")], source_params=source
    )
    tasks = plan_grid(catalog, [entry], "quick")
    assert len(tasks) == units
    assert tasks[0].dataset is not None
    return tasks[0].dataset


def test_no_batch_given_asks_instead_of_taking_phase(catalog: Catalog, tmp_path: Path) -> None:
    """scanpy's cell-cycle scoring adds `phase`; it is never taken as the batch unasked."""
    obs, x = _cells()
    user_file = write_h5ad(tmp_path / "cells.h5ad", obs=obs, x=x)
    with pytest.raises(DataError) as info:
        _plan(catalog, {"path": str(user_file), "target": "cell_type"})
    assert str(info.value) == (
        "cells.h5ad: which obs column holds the batches? pass --set batch=COLUMN "
        "(candidates: donor, phase)"
    )


def test_without_a_batch_the_message_names_no_column_the_user_did_not_give(
    catalog: Catalog, tmp_path: Path
) -> None:
    obs, x = _cells()
    del obs["phase"]
    user_file = write_h5ad(tmp_path / "cells.h5ad", obs=obs, x=x)
    with pytest.raises(DataError) as info:
        _plan(catalog, {"path": str(user_file), "target": "cell_type"})
    message = str(info.value)
    assert "phase" not in message
    assert "--set batch=COLUMN (candidates: donor)" in message
    with pytest.raises(DataError) as no_target:
        _plan(catalog, {"path": str(user_file), "batch": "donor"})
    assert "bulk_labels" not in str(no_target.value)
    assert "pass --target COLUMN (obs has cell_type, donor)" in str(no_target.value)


def test_a_column_named_batch_is_taken_and_said(catalog: Catalog, tmp_path: Path) -> None:
    obs, x = _cells()
    obs["batch"] = obs.pop("donor")
    user_file = write_h5ad(tmp_path / "cells.h5ad", obs=obs, x=x)
    dataset = _plan(catalog, {"path": str(user_file), "target": "cell_type"})  # 3 batches
    assert "batches: obs 'batch' (the obs column named batch" in dataset.provenance
    # the kit's card of a user file: the file, its own sha256 and size, the day it was read
    digest, size = sha256_file(user_file)[:16], user_file.stat().st_size
    assert dataset.provenance.startswith(f"user file {user_file} (sha256 {digest}, {size:,} bytes)")
    assert "; read 20" in dataset.provenance


@pytest.mark.parametrize(
    ("parts", "params", "read"),
    [
        ({}, {}, "expression matrix X, values counts, log-normalised here"),
        ({"raw": "counts"}, {}, "expression matrix raw.X, values counts, log-normalised here"),
        (
            {"layers": "counts"},
            {"layer": "counts"},
            "expression matrix layer 'counts', values counts, log-normalised here",
        ),
        ({"x": "log"}, {}, "expression matrix X, values as stored (taken as log)"),
    ],
    ids=["X", "raw.X", "layer", "log"],
)
def test_the_provenance_says_which_matrix_was_read(
    catalog: Catalog,
    tmp_path: Path,
    parts: dict[str, str],
    params: dict[str, str],
    read: str,
) -> None:
    obs, counts = _cells()
    log = np.log1p(counts * 2.5)
    x = log if parts.get("x") == "log" or parts else counts
    raw = counts if parts.get("raw") else None
    layers = {"counts": counts} if parts.get("layers") else None
    user_file = write_h5ad(tmp_path / "cells.h5ad", obs=obs, x=x, raw=raw, layers=layers)
    source = {"path": str(user_file), "target": "cell_type", "batch": "donor", **params}
    dataset = _plan(catalog, source)
    assert read in dataset.provenance
    assert read in dataset.notes
    assert not any(note.startswith("warning") for note in dataset.notes)


def test_a_scaled_matrix_is_warned_about(catalog: Catalog, tmp_path: Path) -> None:
    obs, counts = _cells()
    log = np.log1p(counts)
    scaled = (log - log.mean(axis=0)) / np.maximum(log.std(axis=0), 1e-6)  # sc.pp.scale
    user_file = write_h5ad(tmp_path / "cells.h5ad", obs=obs, x=scaled)
    dataset = _plan(catalog, {"path": str(user_file), "target": "cell_type", "batch": "donor"})
    assert "expression matrix X, values scaled (negative values" in dataset.provenance
    warnings = [note for note in dataset.notes if note.startswith("warning: X holds negative")]
    assert len(warnings) == 1, dataset.notes


def test_the_example_still_runs_on_its_own_columns(catalog: Catalog) -> None:
    dataset = _plan(catalog, {}, units=3)  # the phases G1, S, G2M held out in turn
    assert "labels: obs 'bulk_labels'; batches: obs 'phase'" in dataset.provenance
    assert "expression matrix raw.X" in dataset.provenance
