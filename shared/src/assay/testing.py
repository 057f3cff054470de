"""The conformance kit: checks any plugin, like scikit-learn's `parametrize_with_checks`.

Every plugin's tests call it::

    import pytest
    from assay.testing import conformance_checks
    from assay_medicine import plugin

    @pytest.mark.parametrize("check", conformance_checks(plugin), ids=str)
    def test_conformance(check, tmp_path):
        check.run(tmp_path)

It checks that the plugin's scenario files validate and name registered
components; that each source is deterministic (same parameters, same sha);
that each scenario's models fit and predict on a tiny slice of the quick
data with predictions of the right shape; and that splits do not leak and
are reproducible. Hyperparameters for the model check (fewer epochs, say)
come from `Plugin.check_params`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from assay.builtin import plugin as core_plugin
from assay.cache import DataCache
from assay.data import Dataset
from assay.errors import SpecError
from assay.models import build_model
from assay.plugin import Catalog, Plugin
from assay.spec import ScenarioSpec
from assay.splits import check_no_leakage

MAX_CHECK_ROWS = 200


@dataclass(frozen=True)
class ConformanceCheck:
    id: str
    fn: Callable[[Path], None]

    def run(self, workdir: Path) -> None:
        self.fn(workdir)

    def __str__(self) -> str:
        return self.id


def _catalog(plugin: Plugin) -> Catalog:
    plugins = [plugin] if plugin.name == core_plugin.name else [core_plugin, plugin]
    catalog = Catalog.from_plugins(plugins)
    if catalog.failures:
        raise AssertionError(f"plugin '{plugin.name}' failed to load: {catalog.failures[0].error}")
    return catalog


def _check_spec(plugin: Plugin, spec: ScenarioSpec) -> None:
    catalog = _catalog(plugin)
    catalog.sources.get(spec.source.name)
    catalog.protocols.get(spec.protocol.name)
    if spec.protocol.name == "supervised":
        catalog.splits.get(spec.protocol.split)
    for model in {spec.controls.negative, *spec.controls.baselines, *spec.models}:
        catalog.models.get(model)
    if spec.controls.negative not in spec.models:
        raise SpecError(f"{spec.key}: negative control '{spec.controls.negative}' is not in models")
    for reference in spec.references:
        if reference.metric not in {m.name for m in spec.metrics}:
            raise SpecError(f"{spec.key}: reference for unlisted metric '{reference.metric}'")


# Built once per scenario per test process: the split and model checks of one
# scenario share the quick data instead of regenerating it for every check.
_QUICK_DATA: dict[tuple[str, str], Dataset] = {}


def _quick_dataset(plugin: Plugin, spec: ScenarioSpec, workdir: Path) -> Dataset:
    key = (plugin.name, spec.key)
    if key not in _QUICK_DATA:
        catalog = _catalog(plugin)
        source = catalog.sources.get(spec.source.name)
        dataset, _ = DataCache(workdir / "cache").load(source, spec.source.params_for("quick"))
        _QUICK_DATA[key] = replace(dataset, task=spec.task)
    return _QUICK_DATA[key]


def _check_source_deterministic(plugin: Plugin, spec: ScenarioSpec, workdir: Path) -> None:
    catalog = _catalog(plugin)
    source = catalog.sources.get(spec.source.name)
    params = spec.source.params_for("quick")
    first = DataCache(workdir / "a").ensure(source, params)
    second = DataCache(workdir / "b").ensure(source, params)
    assert first.data_sha256 == second.data_sha256, (
        f"source '{source.name}' is not deterministic: two builds with {params} differ"
    )
    dataset = source.load(params, first.path)
    assert len(dataset) > 0, f"source '{source.name}' produced an empty dataset"


def _check_split(plugin: Plugin, spec: ScenarioSpec, workdir: Path) -> None:
    catalog = _catalog(plugin)
    dataset = _quick_dataset(plugin, spec, workdir)
    protocol = spec.protocol.for_size("quick")
    evaluation = catalog.protocols.get(protocol.name)
    first = evaluation.plan(spec, protocol, dataset, catalog)
    second = evaluation.plan(spec, protocol, dataset, catalog)
    assert first.split_sha == second.split_sha, f"{spec.key}: split is not reproducible"
    assert first.units, f"{spec.key}: the protocol planned no units"
    folds = getattr(first.payload, "folds", ())
    groups = None if dataset.groups is None else np.asarray(dataset.groups)
    for fold in folds:
        check_no_leakage(
            fold,
            len(dataset),
            groups if protocol.split in {"group_kfold", "balanced_group"} else None,
        )


def _check_model(plugin: Plugin, spec: ScenarioSpec, model_name: str, workdir: Path) -> None:
    catalog = _catalog(plugin)
    dataset = _quick_dataset(plugin, spec, workdir)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(dataset))[: min(len(dataset), MAX_CHECK_ROWS)]
    if dataset.partition is not None:  # keep rows from both sides of a fixed split
        rows = np.sort(rows)
    n_train = int(0.75 * len(rows))
    train, test = dataset.subset(rows[:n_train]), dataset.subset(rows[n_train:])
    params = dict(plugin.check_params.get(model_name, {}))
    model = build_model(model_name, params, catalog.models)
    model.fit(train, valid=None, seed=0)
    predictions = model.predict(test)
    predictions.validate(len(test), model=model_name)


def _check_loads(plugin: Plugin, workdir: Path) -> None:
    del workdir
    _catalog(plugin)


def _check_spec_in(plugin: Plugin, spec: ScenarioSpec, workdir: Path) -> None:
    del workdir
    _check_spec(plugin, spec)


def conformance_checks(plugin: Plugin) -> list[ConformanceCheck]:
    """One check per (scenario, property); run each with a fresh working folder."""
    checks: list[ConformanceCheck] = []
    try:
        specs = plugin.scenario_specs()
    except SpecError as exc:
        message = str(exc)

        def fail(_: Path) -> None:
            raise AssertionError(message)

        return [ConformanceCheck(f"{plugin.name}:specs-validate", fail)]
    checks.append(ConformanceCheck(f"{plugin.name}:loads", partial(_check_loads, plugin)))
    for spec in specs:
        checks += [
            ConformanceCheck(f"{spec.key}:spec", partial(_check_spec_in, plugin, spec)),
            ConformanceCheck(
                f"{spec.key}:source-deterministic",
                partial(_check_source_deterministic, plugin, spec),
            ),
            ConformanceCheck(f"{spec.key}:split", partial(_check_split, plugin, spec)),
        ]
        if spec.protocol.name != "supervised":
            continue
        checks += [
            ConformanceCheck(f"{spec.key}:model-{name}", partial(_check_model, plugin, spec, name))
            for name in spec.models
        ]
    return checks
