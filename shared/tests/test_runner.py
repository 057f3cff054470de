from __future__ import annotations

import json

import mlflow
import pytest
from assay.engine.executors import KILL_GRACE_S, make_executor
from assay.engine.runner import GridEntry, plan_grid, run_grid
from assay.engine.tracking import Tracker, experiment_tags
from assay.plugin import Catalog
from assay.spec import ModelEntry


def grid(catalog: Catalog, *models: str, seeds: list[int] | None = None) -> list:  # type: ignore[type-arg]
    entry = GridEntry("testplugin/tiny@1", [ModelEntry(name=m) for m in models], seeds)
    return plan_grid(catalog, [entry], "quick")


# Dask comes with the core's `dask` extra: its parameter is in the `extras` tier.
DASK = pytest.param("dask", marks=pytest.mark.extras)


@pytest.mark.parametrize("executor", ["serial", "processes", DASK])
def test_crash_and_timeout_are_failures_and_the_rest_completes(
    installed_catalog: Catalog, executor: str
) -> None:
    tasks = grid(installed_catalog, "mean", "crash", "hang", "wrong_shape", "ridge")
    runner = make_executor(executor, workers=2, catalog=installed_catalog)
    report = run_grid(installed_catalog, tasks, runner, Tracker())
    by_model: dict[str, list[str]] = {}
    for result in report.results:
        by_model.setdefault(result.task.model.name, []).append(result.status)
    assert by_model["mean"] == ["ok"] * 3
    assert by_model["ridge"] == ["ok"] * 3
    assert by_model["crash"] == ["failed"] * 3
    assert by_model["hang"] == ["failed"] * 3
    assert by_model["wrong_shape"] == ["failed"] * 3
    errors = {r.task.model.name: r.error for r in report.results if not r.ok}
    assert "RuntimeError: this model always crashes" in errors["crash"]
    assert "time limit of 3 s exceeded" in errors["hang"]
    assert "expected (40, ...)" in errors["wrong_shape"]
    # Timed from the unit's start (with Dask, from the worker's word after its imports),
    # so a hung unit is stopped soon after its limit and its grace.
    hung = [r for r in report.results if r.task.model.name == "hang"]
    assert all(r.wall_seconds < r.task.time_limit_s + KILL_GRACE_S + 10 for r in hung)
    ok = [r for r in report.results if r.ok]
    assert all(r.fit_seconds >= 0 and r.predict_seconds >= 0 and r.peak_memory_mb >= 0 for r in ok)


def test_worker_death_is_a_failure(installed_catalog: Catalog) -> None:
    tasks = grid(installed_catalog, "segfault", "mean")
    report = run_grid(installed_catalog, tasks, make_executor("processes", workers=2), Tracker())
    statuses = {(r.task.model.name, r.status) for r in report.results}
    assert statuses == {("segfault", "failed"), ("mean", "ok")}
    assert len(report.results) == 6
    assert all("died" in r.error for r in report.results if not r.ok)


def test_resume_skips_completed_and_retry_reruns_failures(installed_catalog: Catalog) -> None:
    tracker = Tracker()
    serial = make_executor("serial", catalog=installed_catalog)
    first = run_grid(installed_catalog, grid(installed_catalog, "mean", "crash"), serial, tracker)
    assert len(first.results) == 6
    again = run_grid(installed_catalog, grid(installed_catalog, "mean", "crash"), serial, tracker)
    assert again.skipped == 6
    assert again.results == []
    retried = run_grid(
        installed_catalog,
        grid(installed_catalog, "mean", "crash"),
        serial,
        tracker,
        retry_failed=True,
    )
    assert retried.skipped == 3
    assert {r.task.model.name for r in retried.results} == {"crash"}
    runs = tracker.client.search_runs(
        [tracker.experiment_id(installed_catalog.scenario("testplugin/tiny").spec)],
        filter_string="tags.`assay.kind` = 'unit'",
    )
    assert len(runs) == 6  # the old failures were replaced, not duplicated


def test_an_entry_that_differs_only_in_its_label_reuses_the_computed_units(
    installed_catalog: Catalog,
) -> None:
    tracker = Tracker()
    serial = make_executor("serial", catalog=installed_catalog)
    params = {"alpha": 3.0}

    def entry(label: str | None) -> list:  # type: ignore[type-arg]
        model = ModelEntry(name="ridge", params=params, label=label)
        return plan_grid(installed_catalog, [GridEntry("testplugin/tiny@1", [model])], "quick")

    first = run_grid(installed_catalog, entry(None), serial, tracker)
    relabelled = run_grid(installed_catalog, entry("ridge-alpha-3"), serial, tracker)
    assert (relabelled.reused, relabelled.skipped, relabelled.results) == (3, 0, [])
    again = run_grid(installed_catalog, entry("ridge-alpha-3"), serial, tracker)
    assert (again.reused, again.skipped) == (0, 3)

    experiment = tracker.experiment_id(installed_catalog.scenario("testplugin/tiny").spec)
    units = tracker.client.search_runs([experiment], "tags.`assay.kind` = 'unit'")
    assert len(units) == 6
    originals = {r.info.run_id for r in units if r.data.tags["assay.model_label"] == "ridge"}
    by_label: dict[str, dict[str, float]] = {}
    for run in units:
        tags = run.data.tags
        by_label.setdefault(tags["assay.model_label"], {})[tags["assay.unit"]] = run.data.metrics[
            "rmse"
        ]
        if tags["assay.model_label"] == "ridge-alpha-3":
            assert tags["assay.reused_from"] in originals
            assert tags["assay.size"] == "quick"
            assert tags["assay.parent_key"] == entry("ridge-alpha-3")[0].parent_key
            artifacts = [a.path for a in tracker.client.list_artifacts(run.info.run_id)]
            assert artifacts == ["predictions.csv"]
    assert by_label["ridge-alpha-3"] == by_label["ridge"]
    assert len(by_label["ridge"]) == 3
    assert {r.task.unit for r in first.results} == set(by_label["ridge"])


def test_tracking_layout(installed_catalog: Catalog) -> None:
    tracker = Tracker()
    tasks = grid(installed_catalog, "ridge", seeds=[0, 1])
    run_grid(installed_catalog, tasks, make_executor("serial", catalog=installed_catalog), tracker)
    spec = installed_catalog.scenario("testplugin/tiny").spec
    experiment = tracker.client.get_experiment_by_name("testplugin/tiny")
    assert experiment is not None
    runs = tracker.client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags["assay.kind"] == "parent"]
    children = [r for r in runs if r.data.tags["assay.kind"] == "unit"]
    assert len(parents) == 1
    assert len(children) == 6
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert "rmse_mean" in parent.data.metrics
    dataset = mlflow.artifacts.load_dict(f"{parent.info.artifact_uri}/dataset.json")
    assert dataset["provenance"]
    assert dataset["licence"]
    assert len(dataset["sha256"]) == 64
    assert parent.data.tags["assay.data_notes"] == str(len(dataset["notes"]))
    for child in children:
        tags = child.data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert len(tags["assay.data_sha"]) == 64
        assert len(tags["assay.split_sha"]) == 64
        assert tags["assay.version.assay"]
        assert tags["assay.git_commit"]
        assert tags["assay.cpu_count"]
        assert tags["assay.host"]
        assert tags["assay.info.test_sha"]
        assert {"rmse", "mae", "fit_seconds", "predict_seconds", "peak_memory_mb"} <= set(
            child.data.metrics
        )
        artifacts = [a.path for a in tracker.client.list_artifacts(child.info.run_id)]
        assert artifacts == ["predictions.csv"]
        # The data as MLflow's dataset input: name, the data sha as digest, the fold as
        # its context, provenance and licence in the source, version in the profile.
        (logged,) = child.inputs.dataset_inputs
        assert logged.dataset.name == dataset["name"]
        assert logged.dataset.digest == dataset["sha256"][:36]
        assert {t.key: t.value for t in logged.tags} == {"mlflow.data.context": tags["assay.unit"]}
        source = json.loads(logged.dataset.source)["tags"]
        assert source["provenance"] == dataset["provenance"]
        assert source["licence"] == dataset["licence"]
        assert json.loads(logged.dataset.profile)["version"] == dataset["version"]
    assert [i.dataset.digest for i in parent.inputs.dataset_inputs] == [dataset["sha256"][:36]]
    # `search_runs` by dataset finds the units, one per fold and seed.
    found = mlflow.search_runs(
        [experiment.experiment_id],
        filter_string=f"dataset.name = '{dataset['name']}' and dataset.context = 'r0f1'",
        output_format="list",
    )
    assert {r.data.tags["assay.unit"] for r in found} == {"r0f1"}
    assert len(found) == 2
    # The experiment's description in MLflow's UI: the scenario's title and description.
    assert spec.title in experiment.tags["mlflow.note.content"]
    described = spec.model_copy(update={"description": "Why this scenario exists."})
    note = experiment_tags(described)["mlflow.note.content"]
    assert note == f"**{spec.title}**\n\nWhy this scenario exists."
    assert spec.id == experiment.name


def test_an_experiment_made_by_an_import_gets_its_description(installed_catalog: Catalog) -> None:
    tracker = Tracker()
    spec = installed_catalog.scenario("testplugin/tiny").spec
    tracker.client.create_experiment(spec.id, tags={"assay.scenario": spec.id})
    experiment = tracker.client.get_experiment(tracker.experiment_id(spec))
    assert spec.title in experiment.tags["mlflow.note.content"]
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    tracker.client.set_experiment_tag(experiment.experiment_id, "mlflow.note.content", "mine")
    assert Tracker().experiment_id(spec) == experiment.experiment_id
    kept = tracker.client.get_experiment(experiment.experiment_id)
    assert kept.tags["mlflow.note.content"] == "mine"  # edited in the UI: left alone


def test_units_run_in_a_batch_job_carry_its_id(
    installed_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.engine.units import hardware_tags

    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    hardware_tags.cache_clear()
    try:
        tracker = Tracker()
        tasks = grid(installed_catalog, "mean", seeds=[0])
        serial = make_executor("serial", catalog=installed_catalog)
        report = run_grid(installed_catalog, tasks, serial, tracker)
        runs = [tracker.client.get_run(r.run_id) for r in report.results]
        assert {r.data.tags["assay.slurm_job_id"] for r in runs} == {"4242"}
    finally:
        hardware_tags.cache_clear()


@pytest.mark.parametrize("executor", ["serial", DASK])
def test_entries_that_differ_only_in_label_complete_with_one_computation(
    installed_catalog: Catalog, executor: str
) -> None:
    """Equal run keys in one grid run once and are recorded under each entry (with Dask,
    equal task keys would otherwise collapse the second entry into the first's future)."""
    models = [ModelEntry(name="ridge"), ModelEntry(name="ridge", label="ridge-again")]
    tasks = plan_grid(installed_catalog, [GridEntry("testplugin/tiny@1", models)], "quick")
    computed: list[str] = []

    class Counting:
        def __init__(self) -> None:
            self.inner = make_executor(executor, workers=2, catalog=installed_catalog)

        def run(self, todo: list, claim: object = None) -> object:  # type: ignore[type-arg]
            computed.extend(t.run_key for t in todo)
            return self.inner.run(todo, claim)  # type: ignore[arg-type]

    tracker = Tracker()
    report = run_grid(installed_catalog, tasks, Counting(), tracker)  # type: ignore[arg-type]
    assert len(computed) == len(set(computed)) == 3
    assert sorted(r.status for r in report.results) == ["ok"] * 6
    assert report.shared == 3
    labels = [r.task.model.display_name for r in report.results]
    assert labels.count("ridge") == labels.count("ridge-again") == 3
    experiment = tracker.experiment_id(installed_catalog.scenario("testplugin/tiny").spec)
    units = tracker.client.search_runs([experiment], "tags.`assay.kind` = 'unit'")
    assert len(units) == 6
    copies = [r for r in units if "assay.reused_from" in r.data.tags]
    assert len(copies) == 3
    assert all(r.data.tags["assay.host"] for r in units)  # the worker's machine


def test_a_reused_units_artifacts_go_through_the_trackers_retrying_client(
    installed_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared server that drops a connection while a unit is copied: the copy is retried
    within the bound like every other tracking call, not raised as a bare MLflow error."""
    from assay.engine import remote

    monkeypatch.setattr(remote.time, "sleep", lambda _: None)
    tracker = Tracker()
    serial = make_executor("serial", catalog=installed_catalog)

    def entry(label: str | None) -> list:  # type: ignore[type-arg]
        model = ModelEntry(name="ridge", params={"alpha": 5.0}, label=label)
        return plan_grid(installed_catalog, [GridEntry("testplugin/tiny@1", [model])], "quick")

    run_grid(installed_catalog, entry(None), serial, tracker)

    class DropsEachFirstDownload:
        def __init__(self, inner: object) -> None:
            self.inner = inner
            self.downloads = 0

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def download_artifacts(self, *args: object) -> str:
            self.downloads += 1
            if self.downloads % 2:
                raise ConnectionResetError(104, "Connection reset by peer")
            return self.inner.download_artifacts(*args)  # type: ignore[attr-defined,no-any-return]

    flaky = DropsEachFirstDownload(tracker.client)
    tracker.client = remote.RetryingClient(flaky, tracker.tracking_uri, 60.0)  # type: ignore[assignment]
    relabelled = run_grid(installed_catalog, entry("ridge-alpha-5"), serial, tracker)
    assert (relabelled.reused, relabelled.failures) == (3, [])
    assert flaky.downloads == 6  # each copy's download failed once, then was retried
    experiment = tracker.experiment_id(installed_catalog.scenario("testplugin/tiny").spec)
    copies = tracker.client.search_runs([experiment], "tags.`assay.model_label` = 'ridge-alpha-5'")
    units = [r for r in copies if r.data.tags["assay.kind"] == "unit"]
    assert [[a.path for a in tracker.client.list_artifacts(r.info.run_id)] for r in units] == [
        ["predictions.csv"]
    ] * 3


def test_run_key_names_everything_that_changes_a_result(installed_catalog: Catalog) -> None:
    from dataclasses import replace

    task = grid(installed_catalog, "ridge")[0]
    assert len({task.protocol_sha, task.plugin_version}) == 2
    assert task.metrics
    changed = [
        replace(task, protocol_sha="other"),
        replace(task, metrics=(*task.metrics, "r2")),
        replace(task, plugin_version="9.9"),
    ]
    assert len({task.run_key, *(t.run_key for t in changed)}) == 4


def test_a_models_fitted_choices_are_tagged_on_its_unit_runs(installed_catalog: Catalog) -> None:
    import torch  # noqa: F401 - imported here, not inside the tiny scenario's 3 s unit limit

    tracker = Tracker()
    entry = GridEntry(
        "testplugin/tiny@1", [ModelEntry(name="torch_mlp", params={"max_epochs": 3})], [0]
    )
    tasks = plan_grid(installed_catalog, [entry], "quick")
    report = run_grid(installed_catalog, tasks, make_executor("serial"), tracker)
    assert [r.status for r in report.results] == ["ok"] * 3
    experiment = tracker.client.get_experiment_by_name("testplugin/tiny")
    assert experiment is not None
    children = tracker.client.search_runs(
        [experiment.experiment_id], filter_string="tags.`assay.kind` = 'unit'"
    )
    assert len(children) == 3
    for child in children:
        tags = child.data.tags
        assert tags["assay.info.fitted.epochs_trained"] == "3"
        assert 1 <= int(tags["assay.info.fitted.kept_epoch"]) <= 3
        assert float(tags["assay.info.fitted.kept_loss"]) >= 0
        assert tags["assay.info.fitted.kept_on"] == "training"  # tiny has no validation carve-out


def test_each_unit_runs_within_its_thread_budget(installed_catalog: Catalog) -> None:
    """Two workers on this machine: each unit's BLAS pools get cores / 2 threads."""
    from assay.threads import budget_for

    tracker = Tracker()
    tasks = grid(installed_catalog, "thread_probe")
    run_grid(installed_catalog, tasks, make_executor("processes", workers=2), tracker)
    experiment = tracker.experiment_id(installed_catalog.scenario("testplugin/tiny").spec)
    units = tracker.client.search_runs([experiment], "tags.`assay.kind` = 'unit'")
    assert len(units) == 3
    for run in units:
        tags = run.data.tags
        assert tags["assay.threads"] == str(budget_for(2))
        assert tags["assay.info.fitted.budget"] == str(budget_for(2))
        assert int(tags["assay.info.fitted.widest_pool"]) <= budget_for(2)
