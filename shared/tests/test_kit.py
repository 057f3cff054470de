"""The plugin author's kit: lazy model entries, the torch model base, source parameter
models, and metric families."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from assay.data.dataset import DataError, SourceParams, parse_params
from assay.errors import UnknownNameError
from assay.evaluation.metrics import Metric, MetricFamily, MetricRegistry
from assay.evaluation.models import build_model, resolve_model
from assay.evaluation.predictions import Predictions
from assay.plugin import Catalog, Plugin
from assay.registry import Registry
from pydantic import Field


def test_a_lazy_entry_imports_its_module_only_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "assay.evaluation.torch_training", raising=False)
    catalog = Catalog.from_plugins(
        [Plugin(name="lazy", version="1", models={"m": "assay.evaluation.torch_training:mlp"})]
    )
    assert "assay.evaluation.torch_training" not in sys.modules
    model = build_model("m", {"max_epochs": 1, "hidden": [4]}, catalog.models)
    assert "assay.evaluation.torch_training" in sys.modules
    assert model.config.max_epochs == 1  # type: ignore[attr-defined]


def test_a_lazy_entry_that_does_not_import_is_one_line() -> None:
    registry: Registry[object] = Registry("model")
    registry.register("gone", "assay_no_such_module:factory")
    with pytest.raises(UnknownNameError, match="cannot import module 'assay_no_such_module'"):
        resolve_model("gone", {}, registry)  # type: ignore[arg-type]


LAZY_PARTS = """
from assay.evaluation.metrics import Metric, MetricFamily
from assay.evaluation.protocols import SupervisedProtocol
from assay.data.splits import SPLITTERS

METRICS = (
    Metric("lazy.one", "maximize", lambda y, p: 1.0),
    MetricFamily("lazy.at_{k}", "minimize", lambda k: lambda y, p: float(k)),
)
SPLIT = SPLITTERS.get("kfold")


class Proto(SupervisedProtocol):
    name = "lazy.proto"
"""


@pytest.fixture
def lazy_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of metrics, a split and a protocol, not imported yet."""
    (tmp_path / "assay_lazy_parts.py").write_text(LAZY_PARTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "assay_lazy_parts", raising=False)
    return "assay_lazy_parts"


def test_metrics_splits_and_protocols_import_when_first_used(lazy_parts: str) -> None:
    plugin = Plugin(
        name="lazy",
        version="1",
        metrics={"lazy.one": f"{lazy_parts}:METRICS", "lazy.at_{k}": f"{lazy_parts}:METRICS"},
        splits={"lazy.split": f"{lazy_parts}:SPLIT"},
        protocols={"lazy.proto": f"{lazy_parts}:Proto"},
    )
    catalog = Catalog.from_plugins([plugin])
    assert not catalog.failures
    for name, registry in [
        ("lazy.one", catalog.metrics),
        ("lazy.at_5", catalog.metrics),
        ("lazy.split", catalog.splits),
        ("lazy.proto", catalog.protocols),
    ]:
        assert name in registry
    assert lazy_parts not in sys.modules  # the catalog knows the names without importing
    assert catalog.metrics.get("lazy.at_5").direction == "minimize"
    assert lazy_parts in sys.modules
    assert catalog.metrics.get("lazy.one")(np.zeros(1), Predictions(values=np.zeros(1))) == 1.0
    assert catalog.splits.get("lazy.split").keeps_groups is False
    assert catalog.protocols.get("lazy.proto").name == "lazy.proto"


def test_a_lazy_entry_must_be_what_its_name_says(lazy_parts: str) -> None:
    plugin = Plugin(
        name="lazy",
        version="1",
        metrics={"lazy.two": f"{lazy_parts}:METRICS"},
        splits={"lazy.split": f"{lazy_parts}:METRICS"},
        protocols={"lazy.other": f"{lazy_parts}:Proto"},
    )
    catalog = Catalog.from_plugins([plugin])
    with pytest.raises(UnknownNameError, match=r"'lazy\.two' holds no Metric of that name"):
        catalog.metrics.get("lazy.two")
    with pytest.raises(UnknownNameError, match=r"must be an assay\.data\.splits\.Splitter"):
        catalog.splits.get("lazy.split")
    with pytest.raises(UnknownNameError, match="does not name the evaluation protocol"):
        catalog.protocols.get("lazy.other")


def test_an_object_registered_under_another_name_is_refused() -> None:
    metric = Metric("lazy.real_name", "maximize", lambda y, p: 1.0)
    catalog = Catalog.from_plugins([Plugin(name="x", version="1", metrics={"lazy.alias": metric})])
    assert "x" not in catalog.plugins
    assert "metric 'lazy.alias' is registered under another name" in catalog.failures[0].error


def test_torch_factory_takes_the_network_params_and_every_training_knob() -> None:
    from assay.evaluation.torch_training import MLP_TRAINING, TrainConfig, mlp

    names = set(inspect.signature(mlp).parameters)
    assert {"hidden", "dropout"} <= names
    assert {
        "max_epochs",
        "lr",
        "batch_size",
        "threads",
        "lr_schedule",
        "precision",
        "device",
    } <= names
    model = mlp(hidden=[8], lr=0.01, batch_size=16, device="cpu")
    assert model.config == TrainConfig(
        **{**MLP_TRAINING.__dict__, "lr": 0.01, "batch_size": 16, "device": "cpu"}
    )
    assert str(model.device) == "cpu"


def test_torch_factory_refuses_bad_knobs_before_anything_runs() -> None:
    registry: Registry[object] = Registry("model")
    registry.register("mlp", "assay.evaluation.torch_training:mlp")
    with pytest.raises(
        UnknownNameError, match=r"^model 'mlp': 'lr': Input should be a valid number"
    ):
        resolve_model("mlp", {"lr": "abc"}, registry)  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError, match=r"unknown key 'epochs' \(known: hidden, "):
        resolve_model("mlp", {"epochs": 3}, registry)  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError, match="'max_epochs': Input should be greater than or"):
        resolve_model("mlp", {"max_epochs": 0}, registry)  # type: ignore[arg-type]
    from assay.evaluation.torch_training import mlp

    with pytest.raises(ValueError, match=r"lr_schedule\n.*Input should be 'constant' or 'cosine'"):
        mlp(lr_schedule="linear")


def test_torch_factory_refuses_a_model_param_named_like_a_knob() -> None:
    from assay.evaluation.torch_training import TorchModel, TrainConfig, torch_factory

    class Clashing(TorchModel):
        def __init__(self, lr: float = 0.1, config: TrainConfig | None = None) -> None:
            super().__init__(config)

    with pytest.raises(TypeError, match="belong to TrainConfig"):
        torch_factory(Clashing)


class _Params(SourceParams):
    kind: Literal["a", "b"]
    rows: int = Field(default=10, ge=2)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "c"}, "demo: 'kind': Input should be 'a' or 'b'"),
        ({"kind": "a", "colour": 1}, "demo: unknown key 'colour' (known: kind, rows)"),
        ({"kind": "a", "rows": "12"}, "demo: 'rows': Input should be a valid integer"),
        ({"kind": "a", "rows": 1}, "demo: 'rows': Input should be greater than or equal to 2"),
        ({}, "demo: missing key 'kind'"),
    ],
)
def test_source_params_give_one_line(params: dict[str, object], message: str) -> None:
    with pytest.raises(DataError) as caught:
        parse_params("demo", _Params, params)
    assert str(caught.value) == message


def test_source_params_parse_good_values() -> None:
    assert parse_params("demo", _Params, {"kind": "b"}).rows == 10


def _at(threshold: int) -> object:
    return lambda y, p: float(np.mean(np.asarray(p.values) >= threshold))


def test_a_metric_family_serves_every_setting_from_one_registration() -> None:
    registry = MetricRegistry()
    registry.add_family(MetricFamily("share_at_{k}", "maximize", _at, "share >= {k}"))  # type: ignore[arg-type]
    assert "share_at_3" in registry
    assert "share_at_x" not in registry
    assert "share_at_3_b" not in registry
    metric = registry.get("share_at_3")
    assert metric.description == "share >= 3"
    assert metric(np.zeros(4), Predictions(values=np.array([1, 3, 5, 2]))) == 0.5
    with pytest.raises(UnknownNameError, match="unknown metric 'share_at'"):
        registry.get("share_at")


def test_a_scenario_may_name_a_family_member() -> None:
    family = MetricFamily("demo.share_at_{k}", "maximize", _at)  # type: ignore[arg-type]
    catalog = Catalog.from_plugins(
        [Plugin(name="fam", version="1", metrics={family.pattern: family})]
    )
    assert not catalog.failures
    assert isinstance(catalog.metrics.get("demo.share_at_7"), Metric)


def test_predictions_keep_each_rows_identifier() -> None:
    from assay.data.dataset import Dataset, DatasetMetadata
    from assay.evaluation.protocols import prediction_columns

    meta = DatasetMetadata(name="m", version="1", provenance="test", licence="test")
    smiles = Dataset(inputs=np.array(["CCO", "C", "CN"], dtype=object), targets=None, metadata=meta)
    numbers = Dataset(inputs=np.zeros((3, 2)), targets=None, metadata=meta)
    named = Dataset(
        inputs=np.zeros((3, 2)), targets=None, metadata=meta, ids=np.array(["a", "b", "c"])
    )
    assert list(smiles.subset([2, 0]).row_ids()) == ["CN", "CCO"]  # type: ignore[arg-type]
    assert numbers.row_ids() is None
    assert list(named.subset([1]).row_ids()) == ["b"]  # type: ignore[arg-type]
    table = prediction_columns(
        np.array([2, 0]),
        None,
        Predictions(values=np.array([1.0, 2.0])),
        smiles.subset([2, 0]).row_ids(),
    )
    assert list(table) == ["row", "id", "y_pred"]
    assert list(table["id"]) == ["CN", "CCO"]
