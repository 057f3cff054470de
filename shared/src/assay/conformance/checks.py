"""The conformance kit: checks any plugin, like scikit-learn's `parametrize_with_checks`.

A plugin's tests need not call it: the pytest plugin `assay.conformance.pytest_plugin`
adds these checks to the tests of every project that declares an Assay plugin
(`assay check-plugin NAME` runs them from the command line).

It checks that every contribution named as `"module:attr"` imports and is what
its name says; that the plugin's scenario files validate, name registered
components and give each metric the direction the plugin gives it; that each source is deterministic (same parameters, same sha,
the second build in a fresh process with a fresh `ASSAY_HOME`, so a memo in
the process cannot hide nondeterminism); that splits do not leak (groups
included, wherever the splitter declares it keeps them) and are
reproducible; and that each scenario's models honour the evaluation
contract on a tiny slice of the quick data: predictions of the right shape,
unchanged when the test targets are shuffled, the same for the same seed,
and neither fit nor predict mutates the datasets they were given. Models of
other protocols run one unit of their protocol. Hyperparameters for the
model checks (fewer epochs, say) come from `Plugin.check_params`.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import pickle
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from assay.builtin import plugin as core_plugin
from assay.data.cache import DataCache
from assay.data.dataset import Dataset, Source
from assay.data.splits import check_no_leakage, split_groups
from assay.errors import NotInstalledError, SpecError, UnknownNameError
from assay.evaluation.models import Model, build_model
from assay.evaluation.predictions import Predictions
from assay.evaluation.protocols import UnitContext
from assay.loop.campaign import environment_dataset
from assay.plugin import Catalog, Plugin, process_catalog
from assay.registry import import_object
from assay.spec import ScenarioSpec, Size

MAX_CHECK_ROWS = 200


@dataclass(frozen=True)
class ConformanceCheck:
    id: str
    fn: Callable[[Path], None]

    def run(self, workdir: Path) -> None:
        try:
            self.fn(workdir)
        except NotInstalledError:
            return  # an optional extra (assay[croissant]) that is absent: reported when used

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
    if spec.source is not None:
        catalog.source(spec.source.name)
    evaluation = catalog.protocols.get(spec.protocol.name)
    if spec.protocol.name == "supervised":
        catalog.splits.get(spec.protocol.split)
    if spec.environment is not None:
        catalog.environments.get(spec.environment.name)
    for model in {spec.controls.negative, *spec.controls.baselines, *spec.models}:
        evaluation.resolve_entry(model, {}, catalog)
    for metric in spec.metrics:
        known = catalog.metrics.get(metric.name)
        if known.direction != metric.direction:
            raise SpecError(
                f"{spec.key}: metric '{metric.name}' is {known.direction}d, "
                f"the spec says {metric.direction}"
            )
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
        if spec.source is None:  # a closed loop whose environment generates everything
            dataset = environment_dataset(spec, plugin.version)
        else:
            source = catalog.source(spec.source.name)
            dataset, _ = DataCache(workdir / "cache").load(source, spec.source.params_for("quick"))
        _QUICK_DATA[key] = replace(dataset, task=spec.task)
    return _QUICK_DATA[key]


def _fresh_process_sha(source: Source[Any], params: Mapping[str, Any], cache_dir: Path) -> str:
    """Runs in a freshly spawned interpreter: nothing memoised by this process exists there."""
    return DataCache(cache_dir).ensure(source, params).data_sha256


def _check_source_deterministic(plugin: Plugin, spec: ScenarioSpec, workdir: Path) -> None:
    catalog = _catalog(plugin)
    if spec.source is None:
        return  # nothing cached: the environment's own determinism is the model check's
    source = catalog.source(spec.source.name)
    params = spec.source.params_for("quick")
    first = DataCache(workdir / "a").ensure(source, params)
    try:
        pickle.dumps(source)
    except Exception:  # a source that cannot travel: a second build here, in a fresh cache
        second = DataCache(workdir / "b").ensure(source, params).data_sha256
    else:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
            second = fresh.submit(_fresh_process_sha, source, params, workdir / "b").result()
    assert first.data_sha256 == second, (
        f"source '{source.name}' is not deterministic: a build with {params} in a fresh "
        "process and a fresh ASSAY_HOME gives another data sha"
    )
    dataset = source.load(source.validate_params(params), first.path)
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
    groups = None
    if protocol.name == "supervised":  # the splitter, not its name, says if groups stay whole
        groups = split_groups(catalog.splits.get(protocol.split), dataset)
    for fold in folds:
        check_no_leakage(fold, len(dataset), groups)


def _fingerprint(dataset: Dataset) -> str:
    """A hash of everything a model could change in place."""
    fields = (dataset.inputs, dataset.targets, dataset.groups, dict(dataset.extras))
    try:
        return hashlib.sha256(pickle.dumps(fields)).hexdigest()
    except Exception:  # inputs that do not pickle: the row-aligned arrays still count
        return hashlib.sha256(pickle.dumps(fields[1:])).hexdigest()


def _same_predictions(a: Predictions, b: Predictions) -> bool:
    for x, y in ((a.values, b.values), (a.probabilities, b.probabilities)):
        if x is None or y is None:
            if (x is None) != (y is None):
                return False
            continue
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind in "fc":
            if not np.allclose(x, y, rtol=1e-6, atol=1e-9):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def _fitted(catalog: Catalog, plugin: Plugin, name: str, train: Dataset) -> Model:
    model = build_model(name, dict(plugin.check_params.get(name, {})), catalog.models)
    model.fit(train, valid=None, seed=0)
    return model


def _check_model(plugin: Plugin, spec: ScenarioSpec, model_name: str, workdir: Path) -> None:
    """The evaluation contract: shapes, blind to test targets, seeded, no mutation."""
    catalog = _catalog(plugin)
    dataset = _quick_dataset(plugin, spec, workdir)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(dataset))[: min(len(dataset), MAX_CHECK_ROWS)]
    if dataset.partition is not None:  # keep rows from both sides of a fixed split
        rows = np.sort(rows)
    n_train = int(0.75 * len(rows))
    train, test = dataset.subset(rows[:n_train]), dataset.subset(rows[n_train:])
    blind = test.without_targets()
    before = (_fingerprint(train), _fingerprint(blind))
    model = _fitted(catalog, plugin, model_name, train)
    predictions = model.predict(blind).validate(len(test), model=model_name)
    assert (_fingerprint(train), _fingerprint(blind)) == before, (
        f"model '{model_name}' changed the datasets it was given to fit or predict on"
    )
    again = _fitted(catalog, plugin, model_name, train).predict(blind)
    assert _same_predictions(again, predictions), (
        f"model '{model_name}' gives other predictions for the same seed: it is not deterministic"
    )
    assert test.targets is not None
    shuffled = replace(test, targets=rng.permutation(test.targets))
    assert _same_predictions(model.predict(shuffled), predictions), (
        f"model '{model_name}': predictions change when the test targets are shuffled"
    )


def _check_protocol_model(
    plugin: Plugin, spec: ScenarioSpec, model_name: str, workdir: Path
) -> None:
    """A model of another protocol (a closed loop, say) runs the scenario's first unit."""
    catalog = _catalog(plugin)
    dataset = _quick_dataset(plugin, spec, workdir)
    protocol = spec.protocol.for_size("quick")
    evaluation = catalog.protocols.get(protocol.name)
    plan = evaluation.plan(spec, protocol, dataset, catalog)
    try:
        entry = evaluation.build_entry(
            model_name, dict(plugin.check_params.get(model_name, {})), catalog
        )
    except NotInstalledError:
        return  # an optional extra (assay[bo]) that is absent: reported as such when run
    context = UnitContext(
        spec=spec,
        protocol=protocol,
        dataset=dataset,
        plan=plan,
        unit=plan.units[0],
        seed=0,
        model=entry,
        model_name=model_name,
        metrics=[catalog.metrics.get(m.name) for m in spec.metrics],
    )
    output = evaluation.run(context)
    assert set(output.metrics) == {m.name for m in spec.metrics}, (
        f"{spec.key}: protocol '{protocol.name}' scored {sorted(output.metrics)}"
    )


def _check_loads(plugin: Plugin, workdir: Path) -> None:
    del workdir
    _catalog(plugin)


def _check_entries_resolve(plugin: Plugin, workdir: Path) -> None:
    """Every lazy entry imports and is what its name says (the catalog loads without them)."""
    del workdir
    catalog = _catalog(plugin)
    for name in plugin.sources:
        catalog.source(name)
    for key in plugin.metrics:  # a family by a member of it: its pattern with the number 1
        catalog.metrics.get(re.sub(r"\{\w+\}", "1", key))
    for name in plugin.splits:
        catalog.splits.get(name)
    for name in plugin.protocols:
        catalog.protocols.get(name)
    for entries in (plugin.models, plugin.environments, plugin.policies):
        for entry in entries.values():
            if isinstance(entry, str):
                _import_entry(entry)


def _import_entry(entry: str) -> None:
    """Import `entry`; a missing third-party module is an optional extra, reported when the
    entry is used, but a missing module of the plugin's own package is a broken entry."""
    try:
        import_object(entry)
    except UnknownNameError as exc:
        missing = re.search(r"No module named '([\w.]+)'", str(exc))
        if missing is None or missing.group(1).split(".")[0] == entry.split(".")[0]:
            raise


def _check_spec_in(plugin: Plugin, spec: ScenarioSpec, workdir: Path) -> None:
    del workdir
    _check_spec(plugin, spec)


def modules_imported_by(module: str) -> set[str]:
    """The modules in `sys.modules` after a fresh interpreter imports `module`."""
    script = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, f"importing {module} failed: {done.stderr.strip()[-2000:]}"
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return set(loaded)


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
    checks.append(
        ConformanceCheck(f"{plugin.name}:entries-resolve", partial(_check_entries_resolve, plugin))
    )
    for spec in specs:
        checks += [
            ConformanceCheck(f"{spec.key}:spec", partial(_check_spec_in, plugin, spec)),
            ConformanceCheck(
                f"{spec.key}:source-deterministic",
                partial(_check_source_deterministic, plugin, spec),
            ),
            ConformanceCheck(f"{spec.key}:split", partial(_check_split, plugin, spec)),
        ]
        check = _check_model if spec.protocol.name == "supervised" else _check_protocol_model
        checks += [
            ConformanceCheck(f"{spec.key}:model-{name}", partial(check, plugin, spec, name))
            for name in spec.models
        ]
    return checks


def check_croissant_export(
    scenario: str, out: Path, *, size: Size = "quick", max_rows: int = 400
) -> Any:
    """Export `scenario` with `assay data export`'s writer, validate it with mlcroissant
    (no errors, no warnings), and check that its records give the same rows, inputs,
    targets and folds as `assay.load` (for a protocol of the supervised family that
    `assay.load` does not serve, such as breeding's, the same data and folds `assay run`
    uses). Returns the benchmark for further checks. Needs the `assay[croissant]` extra."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from assay.api import benchmark_of
    from assay.data.croissant_read import open_dataset, records
    from assay.engine.units import prepare
    from assay.publish.croissant import export_scenario

    catalog = process_catalog()
    summary = export_scenario(catalog, scenario, size, out)
    dataset = open_dataset(summary.description)
    warnings = dataset.metadata.ctx.issues.warnings
    assert not warnings, f"{scenario}: mlcroissant warns: {sorted(warnings)}"
    bench = benchmark_of(prepare(catalog, scenario, size), catalog, size)
    n = len(bench.dataset)
    rows_file = summary.description.parent / "rows.parquet"
    assert pq.ParquetFile(rows_file).metadata.num_rows == n, f"{scenario}: rows missing"
    # mlcroissant reads a few thousand records a second: the first `max_rows` are compared
    rows = records(dataset, "rows", limit=max_rows)
    shown = len(rows["row"])
    assert rows["row"] == list(range(shown)), f"{scenario}: rows are not 0, 1, ... in order"
    bench_view = bench.dataset.subset(np.arange(shown))
    targets = np.asarray(bench_view.targets)
    if targets.dtype.kind in "OUS":
        assert [str(t) for t in targets] == rows["target"], f"{scenario}: targets differ"
    else:
        np.testing.assert_allclose(np.asarray(rows["target"], dtype=np.float64), targets)
    source = catalog.source(bench.spec.data_source.name)
    params = bench.spec.data_source.params_for(size)
    for column in source.export_view(bench_view, source.validate_params(params)).inputs:
        _assert_same_column(scenario, column, rows[column.name])
    folds = records(dataset, "folds")
    listed = {
        (fold, role): rows
        for fold, seed, role, rows in zip(
            folds["fold"], folds["seed"], folds["role"], folds["rows"], strict=True
        )
        if seed == bench.seed
    }
    for fold in bench.folds:
        for role, expected in (
            ("train", fold.train_rows),
            ("valid", fold.valid_rows),
            ("test", fold.test_rows),
        ):
            assert listed[fold.name, role] == sorted(int(r) for r in expected), (
                f"{scenario}: fold {fold.name} {role} rows differ from assay.load's"
            )
    return bench


def exportable_suite_scenarios(suite: Path, plugin: str | None = None) -> dict[str, str]:
    """`plugin`'s scenarios in `suite` (every installed plugin's when None) that `assay data
    export` serves (folds of rows, not a closed loop or another protocol), in suite order:
    scenario id -> the suite's `id@version`. A plugin's tests compare the ids with an
    explicit list, so a new standard scenario cannot go untested and a left-out one is left
    out on purpose; `nox -s standard` writes a description for each."""
    from assay.publish.croissant import exportable
    from assay.spec import load_suite

    catalog = process_catalog()
    found: dict[str, str] = {}
    for entry in load_suite(suite).entries:
        domain = entry.scenario.split("/")[0]
        if plugin is not None and domain != plugin:  # other plugins may not be installed
            continue
        if plugin is None and domain not in catalog.plugins:
            continue
        spec = catalog.scenario(entry.scenario).spec
        if exportable(entry.scenario, catalog):
            found[spec.id] = f"{spec.id}@{spec.version}"
    return found


def _assert_same_column(scenario: str, column: Any, loaded: list[Any]) -> None:
    from assay.data.export import Ragged

    values = column.values
    where = f"{scenario}: column {column.name}"
    if isinstance(values, Ragged):
        assert [len(row) for row in loaded] == list(np.diff(values.offsets)), where
        flat = np.concatenate([np.asarray(row, dtype=np.float64) for row in loaded])
        np.testing.assert_allclose(flat, values.flat.astype(np.float64), err_msg=where)
    elif isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        np.testing.assert_allclose(
            np.asarray(loaded, dtype=np.float64), values.astype(np.float64), err_msg=where
        )
    else:
        assert [str(v) for v in values] == loaded, where
