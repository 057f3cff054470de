from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from assay.builtin import plugin as core_plugin
from assay.data.dataset import Dataset, DatasetMetadata
from assay.errors import PredictionError, UnknownNameError
from assay.evaluation import torch_training
from assay.evaluation.metrics import builtin_metrics
from assay.evaluation.models import build_model, fitted_choice_tags, params_from_cli
from assay.evaluation.predictions import Predictions
from assay.evaluation.torch_training import (
    TrainConfig,
    cpu_has_native_bfloat16,
    default_device,
    fit_module,
    predict_batches,
    seed_everything,
    tensor_batches,
    torch_threads,
)
from assay.plugin import Catalog

META = DatasetMetadata("d", "1", provenance="test", licence="CC0")


def regression(n: int = 120) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    return Dataset(
        x, x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=n), META, task="regression"
    )


def binary(n: int = 120) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    return Dataset(x, (x[:, 0] > 0).astype(int), META, task="binary")


@pytest.mark.parametrize(
    "name", ["mean", "ridge", "random_forest", "gradient_boosting", "knn", "torch_mlp"]
)
def test_core_regressors(name: str) -> None:
    catalog = Catalog.from_plugins([core_plugin])
    params = {"max_epochs": 30} if name == "torch_mlp" else {}
    data = regression()
    model = build_model(name, params, catalog.models)
    model.fit(data.subset(range(90)), valid=data.subset(range(90, 100)), seed=0)
    predictions = model.predict(data.subset(range(100, 120))).validate(20, model=name)
    rmse = builtin_metrics().get("rmse")(data.targets[100:], predictions)
    assert rmse < (np.std(data.targets) * 1.2)
    if name != "mean":
        assert rmse < np.std(data.targets) * 0.8


@pytest.mark.parametrize("name", ["majority", "logistic", "random_forest", "torch_mlp"])
def test_core_classifiers_give_probabilities(name: str) -> None:
    catalog = Catalog.from_plugins([core_plugin])
    data = binary()
    model = build_model(name, {"max_epochs": 20} if name == "torch_mlp" else {}, catalog.models)
    model.fit(data.subset(range(100)), seed=1)
    predictions = model.predict(data.subset(range(100, 120)))
    assert predictions.probabilities is not None
    assert predictions.probabilities.shape == (20, 2)
    auc = builtin_metrics().get("roc_auc")(data.targets[100:], predictions)
    assert auc >= (0.5 if name == "majority" else 0.9)


def test_model_from_module_path_and_params() -> None:
    registry = Catalog.from_plugins([core_plugin]).models
    model = build_model("assay.builtin:ridge", {"alpha": 3.0}, registry)
    assert model.estimator.steps[-1][1].alpha == 3.0  # type: ignore[attr-defined]
    with pytest.raises(UnknownNameError, match=r"unknown key .alpah. \(known: alpha\)"):
        build_model("ridge", {"alpah": 1}, registry)
    with pytest.raises(UnknownNameError, match="cannot import module"):
        build_model("no_such_module:Model", {}, registry)
    with pytest.raises(UnknownNameError, match="has no attribute"):
        build_model("assay.builtin:NoSuchModel", {}, registry)
    with pytest.raises(UnknownNameError, match="did not build a model"):
        build_model("builtins:dict", {}, registry)
    with pytest.raises(UnknownNameError, match="unknown model 'ridg'; did you mean ridge"):
        build_model("ridg", {}, registry)


def test_params_from_cli() -> None:
    assert params_from_cli(["alpha=0.5", "hidden=[64, 32]", "name=abc", "flag=true"]) == {
        "alpha": 0.5,
        "hidden": [64, 32],
        "name": "abc",
        "flag": True,
    }
    with pytest.raises(UnknownNameError, match="key=value"):
        params_from_cli(["alpha"])


def test_prediction_validation() -> None:
    with pytest.raises(PredictionError, match=r"shape \(3,\), expected \(4, ...\)"):
        Predictions(np.zeros(3)).validate(4, model="m")
    with pytest.raises(PredictionError, match="1 non-finite"):
        Predictions(np.array([0.0, np.nan])).validate(2, model="m")
    with pytest.raises(PredictionError, match="probabilities"):
        Predictions(np.zeros(2), probabilities=np.zeros((3, 2))).validate(2, model="m")


def test_training_loop_is_seeded_and_stops_early() -> None:
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.normal(size=(200, 4)), dtype=torch.float32)
    noise = torch.as_tensor(rng.normal(scale=0.3, size=(200, 1)), dtype=torch.float32)
    y = x @ torch.tensor([[1.0], [2.0], [0.0], [-1.0]]) + noise
    config = TrainConfig(max_epochs=500, lr=1e-2, patience=5)

    def train(seed: int) -> tuple[torch.nn.Module, int, int]:
        seed_everything(seed)
        net = torch.nn.Linear(4, 1)
        result = fit_module(
            net,
            tensor_batches(x[:150], y[:150], batch_size=32),
            torch.nn.functional.mse_loss,
            valid_batches=tensor_batches(x[150:], y[150:], batch_size=50, shuffle=False),
            config=config,
            seed=seed,
        )
        choices = result.choices()  # what a model reports as its fitted choices
        assert choices == {
            "kept_epoch": result.best_epoch + 1,
            "epochs_trained": result.best_epoch + 1 + config.patience,
            "kept_loss": min(result.valid_losses),
            "kept_on": "validation",
        }
        return net, result.best_epoch, len(result.train_losses)

    net_a, best_a, epochs_a = train(7)
    net_b, best_b, _ = train(7)
    assert best_a == best_b
    torch.testing.assert_close(net_a.weight, net_b.weight)
    assert epochs_a < 500  # early stopping fired
    torch.testing.assert_close(
        net_a.weight, torch.tensor([[1.0, 2.0, 0.0, -1.0]]), atol=0.15, rtol=0
    )
    assert default_device().type in {"cpu", "cuda"}


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_learning_rate_schedule(schedule: str) -> None:
    x = torch.ones(8, 2)
    config = TrainConfig(max_epochs=10, lr=0.01, patience=100, lr_schedule=schedule)  # type: ignore[arg-type]
    result = fit_module(
        torch.nn.Linear(2, 1),
        tensor_batches(x, x[:, :1], batch_size=4),
        torch.nn.functional.mse_loss,
        config=config,
    )
    assert result.learning_rates[0] == pytest.approx(0.01)
    if schedule == "constant":
        assert result.learning_rates == pytest.approx([0.01] * 10)
    else:  # strictly decreasing, ending near zero
        assert all(np.diff(result.learning_rates) < 0)
        assert result.learning_rates[-1] < 0.001


class _RecordsForwardDtype(torch.nn.Linear):
    """A linear layer that records the dtype its matmul ran in (the autocast's choice)."""

    def __init__(self) -> None:
        super().__init__(4, 1)
        self.seen: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        self.seen.append(out.dtype)
        return out


def test_bfloat16_precision_trains_in_bfloat16_and_keeps_float32_weights() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=gen)
    y = x @ torch.tensor([[1.0], [2.0], [0.0], [-1.0]])
    net = _RecordsForwardDtype()
    config = TrainConfig(max_epochs=60, lr=0.05, patience=100, precision="bfloat16")
    fit_module(
        net,
        tensor_batches(x[:200], y[:200], batch_size=50),
        torch.nn.functional.mse_loss,
        valid_batches=tensor_batches(x[200:], y[200:], batch_size=56, shuffle=False),
        config=config,
    )
    # training steps ran under autocast, validation passes in float32
    assert torch.bfloat16 in net.seen
    assert torch.float32 in net.seen
    assert net.weight.dtype == torch.float32
    # it still learns the weights, to bfloat16's ~3 significant digits
    torch.testing.assert_close(
        net.weight.detach(), torch.tensor([[1.0, 2.0, 0.0, -1.0]]), atol=0.05, rtol=0
    )
    assert predict_batches(net, [(x[:3],)]).dtype == np.float64
    assert net.seen[-1] == torch.float32  # predictions are float32


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile", True),  # Sapphire Rapids
        ("flags\t\t: fpu sse2 avx2 fma", False),  # AVX2 only
        ("Features\t: fp asimd sve bf16 i8mm", True),  # Arm Neoverse V1
        ("Features\t: fp asimd evtstrm", False),
    ],
)
def test_native_bfloat16_is_read_from_the_cpu_flags(
    tmp_path: Path, flags: str, native: bool
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: some cpu\n{flags}\n")
    assert cpu_has_native_bfloat16(cpuinfo) is native
    assert cpu_has_native_bfloat16(tmp_path / "absent") is None


@pytest.mark.parametrize(("native", "warned"), [(False, True), (True, False), (None, False)])
def test_bfloat16_on_a_cpu_without_bfloat16_units_says_it_is_emulated(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    native: bool | None,
    warned: bool,
) -> None:
    monkeypatch.setattr(torch_training, "cpu_has_native_bfloat16", lambda: native)
    x = torch.randn(8, 4)
    with caplog.at_level(logging.WARNING, logger="assay.evaluation.torch_training"):
        fit_module(
            torch.nn.Linear(4, 1),
            tensor_batches(x, x[:, :1], batch_size=4),
            torch.nn.functional.mse_loss,
            config=TrainConfig(max_epochs=1, precision="bfloat16"),
            device=torch.device("cpu"),
        )
    assert ("emulates it" in caplog.text) is warned


@pytest.mark.parametrize(("field", "value"), [("precision", "float16"), ("lr_schedule", "cosin")])
def test_train_config_rejects_unknown_choices(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


def test_predict_batches_concatenates_on_the_cpu_in_eval_mode() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Dropout(0.9)).to(default_device())
    x = torch.arange(15, dtype=torch.float32).reshape(5, 3)
    out = predict_batches(net, ((x[start : start + 2],) for start in range(0, 5, 2)))
    assert out.shape == (5, 2)
    assert out.dtype == np.float64
    with torch.no_grad():  # dropout is off: the batches equal one pass over all rows
        expected = net.eval()(x.to(default_device())).cpu().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="no batches"):
        predict_batches(net, iter([]))


def test_task_reaches_models_through_dataset() -> None:
    data = replace(regression(), task="binary")
    assert data.subset([0, 1]).task == "binary"


def test_correlation_of_a_constant_prediction_is_nan_without_warning() -> None:
    metrics = builtin_metrics()
    y = np.array([1.0, 2.0, 3.0, 4.0])
    constant = Predictions(values=np.full(4, 2.5))
    for name in ("spearman", "pearson"):
        assert np.isnan(metrics.get(name)(y, constant))  # filterwarnings=error: no warning
        assert metrics.get(name)(y, Predictions(values=y * 2)) == pytest.approx(1.0)


def test_seed_reaches_random_state_nested_in_a_pipeline() -> None:
    from assay.evaluation.models import SklearnModel
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = SklearnModel(make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=5)))
    model.fit(regression(), seed=7)
    assert model.fitted_.get_params()["randomforestregressor__random_state"] == 7


def test_training_threads_are_restored() -> None:
    before = torch.get_num_threads()
    seen: list[int] = []

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return torch.nn.functional.mse_loss(out, target)

    x = torch.ones(4, 2)
    config = TrainConfig(max_epochs=2, threads=1)
    fit_module(
        torch.nn.Linear(2, 1), tensor_batches(x, x[:, :1], batch_size=4), loss, config=config
    )
    assert set(seen) == {1}
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("a crash inside the block")
    assert torch.get_num_threads() == before


class _ReportsAWindow:
    def __init__(self, report: object) -> None:
        self.report = report

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        pass

    def predict(self, dataset: Dataset) -> Predictions:
        return Predictions(values=np.zeros(len(dataset)))

    def fitted_choices(self) -> object:
        return self.report


def test_fitted_choices_are_optional_and_checked_before_they_become_tags() -> None:
    catalog = Catalog.from_plugins([core_plugin])
    assert fitted_choice_tags(build_model("mean", {}, catalog.models)) == {}
    reported = fitted_choice_tags(_ReportsAWindow({"window": 0.8, "chosen_on": "validation"}))
    assert reported == {"window": "0.8", "chosen_on": "validation"}
    with pytest.raises(TypeError, match="must return a mapping"):
        fitted_choice_tags(_ReportsAWindow([0.8]))
    with pytest.raises(ValueError, match="letters, digits"):
        fitted_choice_tags(_ReportsAWindow({"mass window": 0.8}))  # not an MLflow tag name
    assert fitted_choice_tags(_ReportsAWindow({"log": "x" * 5000})) == {"log": "x" * 1000}


def test_train_config_needs_an_epoch() -> None:
    with pytest.raises(ValueError, match=r"max_epochs\n.*greater than or equal to 1"):
        TrainConfig(max_epochs=0)
    with pytest.raises(ValueError, match=r"batch_size\n.*greater than or equal to 1"):
        TrainConfig().replace(batch_size=0)
