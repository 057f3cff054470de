from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from assay.builtin import plugin as core_plugin
from assay.data.dataset import Dataset
from assay.evaluation.metrics import Metric
from assay.evaluation.models import MeanModel
from assay.evaluation.predictions import Predictions
from assay.plugin import Catalog, Plugin


def test_broken_plugin_is_reported_not_fatal(installed_catalog: Catalog) -> None:
    assert {"core", "testplugin"} <= set(installed_catalog.plugins)
    failure = next(f for f in installed_catalog.failures if f.name == "broken")
    assert "assay_missing_dependency" in failure.error
    assert "testplugin/tiny@1" in installed_catalog.scenarios


def test_name_clash_rejects_the_whole_plugin() -> None:
    clashing = Plugin(name="clash", version="1", models={"ridge": dict, "fresh": dict})  # type: ignore[dict-item]
    catalog = Catalog.from_plugins([core_plugin, clashing])
    assert "clash" not in catalog.plugins
    assert "model 'ridge'" in catalog.failures[0].error
    assert "fresh" not in catalog.models


def test_metric_direction_must_match(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        (Path(__file__).parents[1] / "src/assay/scenarios/diabetes.toml")
        .read_text()
        .replace('id = "core/diabetes"', 'id = "x/diabetes"')
        .replace('name = "rmse"\ndirection = "minimize"', 'name = "rmse"\ndirection = "maximize"')
    )
    catalog = Catalog.from_plugins(
        [core_plugin, Plugin(name="x", version="1", scenario_dir=tmp_path)]
    )  # type: ignore[arg-type]
    assert "metric 'rmse' is minimized" in catalog.failures[0].error


def test_plugin_metric_registers() -> None:
    metric = Metric("always_one", "maximize", lambda y, p: 1.0)
    catalog = Catalog.from_plugins(
        [core_plugin, Plugin(name="m", version="1", metrics={"always_one": metric})]
    )
    assert catalog.metrics.get("always_one") is metric


def test_scenario_lookup_newest_version(installed_catalog: Catalog) -> None:
    assert installed_catalog.scenario("core/diabetes").spec.key == "core/diabetes@1"


class TargetPeeker(MeanModel):
    """Cheats: uses the test targets when it is handed them."""

    def predict(self, dataset: Dataset) -> Predictions:
        if dataset.targets is not None:
            return Predictions(values=np.asarray(dataset.targets, dtype=float))
        return super().predict(dataset)


class Mutator(MeanModel):
    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        super().fit(train, valid=valid, seed=seed)
        np.asarray(train.targets)[0] += 1.0  # in place, on the caller's array


class Unseeded(MeanModel):
    def predict(self, dataset: Dataset) -> Predictions:
        noise = np.random.default_rng().standard_normal(len(dataset))
        return Predictions(values=super().predict(dataset).values + noise)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("peeker", "change when the test targets are shuffled"),
        ("mutator", "changed the datasets"),
        ("unseeded", "not deterministic"),
    ],
)
def test_the_kit_catches_contract_breaches(tmp_path: Path, model: str, message: str) -> None:
    from assay.conformance.checks import _check_model

    plugin = Plugin(
        name="kitcheck",
        version="0",
        models={"peeker": TargetPeeker, "mutator": Mutator, "unseeded": Unseeded},
    )
    spec = Catalog.from_plugins([core_plugin]).scenario("core/diabetes").spec
    with pytest.raises(AssertionError, match=message):
        _check_model(plugin, spec, model, tmp_path)


def test_a_plugin_split_must_declare_whether_it_keeps_groups() -> None:
    def cut(dataset: Dataset, **_: object) -> list[object]:
        return []

    catalog = Catalog.from_plugins(
        [core_plugin, Plugin(name="oldsplit", version="0", splits={"x": cut})]  # type: ignore[dict-item]
    )
    assert "must be an assay.data.splits.Splitter" in catalog.failures[0].error


def test_a_plugin_warm_up_runs_once_per_process_before_the_clock(tmp_path: Path) -> None:
    """One-off work (numba compilation) is done before a unit starts timing, once."""
    from assay import plugin as plugin_module

    calls: list[int] = []
    warming = Plugin(
        name="warming",
        version="1",
        scenario_dir=core_plugin.scenario_dir,
        warm_up=lambda: calls.append(1),
    )
    catalog = Catalog()
    catalog.add(warming)
    assert "warming" in catalog.plugins, catalog.failures
    scenario = next(iter(catalog.scenarios))
    plugin_module.warm_up_plugin(catalog, scenario)
    plugin_module.warm_up_plugin(catalog, scenario)
    assert calls == [1]
    plugin_module.warm_up_plugin(catalog, "no/such-scenario")  # unknown: nothing to warm
    plugin_module._WARMED.discard("warming")


def _pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_the_pytest_plugin_checks_the_plugins_a_project_declares(tmp_path: Path) -> None:
    """A project declaring the core (installed) and a plugin that is not installed: its
    tests folder gains the checks of both, no test file needed."""
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1"\n'
        '[project.entry-points."assay.plugins"]\n'
        'core = "assay.builtin:plugin"\nabsent = "assay_absent.plugin:plugin"\n'
    )
    (project / "tests" / "test_own.py").write_text("def test_own() -> None:\n    pass\n")
    collected = _pytest_in(project, "tests", "--collect-only", "-q").stdout
    assert "tests/test_own.py::test_own" in collected
    assert "pyproject.toml::core:version" in collected
    assert "pyproject.toml::core/diabetes@1:model-ridge" in collected
    alone = _pytest_in(project, "tests/test_own.py", "--collect-only", "-q").stdout
    assert "pyproject.toml" not in alone  # one test file: its tests only
    ran = _pytest_in(project, "tests", "-m", "conformance", "-k", "version or installed")
    assert "plugin 'absent' (assay_absent.plugin:plugin) is not installed" in ran.stdout
    assert "1 failed, 1 passed" in ran.stdout
