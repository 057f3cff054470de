"""MLflow tracking, with MLflow's own conventions.

`MLFLOW_TRACKING_URI` picks the store; unset, MLflow's default local sqlite
store is used. One experiment per scenario; a parent run per (scenario,
model) and a child run per unit. A child is created RUNNING when its unit is
dispatched, as the driver's claim on it (`assay.engine.ownership`), and its terminal
status is written last. `resume_state` leaves the claims of live drivers alone
and marks those whose driver is gone as abandoned (status KILLED, tag
`assay.abandoned`); the runner skips units whose child finished. A finished
unit with the same run key under another parent (an entry that differs only
in its label, or a size that changes nothing but seeds) is copied, not rerun.

Drivers sharing a store agree without locks, from what the store holds: of two
runs for the same thing (parents with one parent key, terminal children with
one parent key and run key) the older one counts, and the others are marked
abandoned by whichever driver sees them together first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

import mlflow
import pandas as pd
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from assay.data.dataset import DatasetMetadata
from assay.engine import ownership, remote
from assay.engine.client import TrackingClient, log_batches
from assay.engine.store import open_store
from assay.engine.units import UnitResult, UnitTask, distribution_version, hardware_tags
from assay.evaluation.stats import describe
from assay.spec import ScenarioSpec

EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_NOTE = "mlflow.note.content"
"""The experiment's description, as MLflow's UI shows and edits it."""
KEY_LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "mlflow", "torch")
TAG = "assay."
DATASET_ARTIFACT = "dataset.json"
"""The parent run's data card: provenance, licence and notes of the data."""
DIGEST_CHARS = 36
"""MLflow keeps a dataset's digest in 36 characters: the data sha256's first 36 hex digits."""
DATASET_SOURCE_TYPE = "code"
"""MLflow's source type for data made by code (generated, or loaded and cleaned by a
plugin's source); its source holds the provenance and licence as tags."""
EXTERNAL = f"{TAG}external"
"""Marks a unit (and its parent) imported from a verified result bundle; the value is the
bundle's sha256, short."""


@cache
def environment_tags() -> dict[str, str]:
    """The driver's software: versions and Assay's own commit, the same for all its runs.
    A unit's machine and its plugin's key libraries come from the process that ran it."""
    tags = {f"{TAG}version.{lib}": _version(lib) for lib in ("assay", *KEY_LIBRARIES)}
    tags[f"{TAG}git_commit"] = assay_commit()
    return tags


def experiment_tags(spec: ScenarioSpec) -> dict[str, str]:
    """A scenario's experiment: its id and title, its description as MLflow's own (shown
    above the runs in the UI), and its kind."""
    description = f"**{spec.title}**"
    if spec.description.strip():
        description += f"\n\n{spec.description.strip()}"
    return {
        f"{TAG}scenario": spec.id,
        f"{TAG}title": spec.title,
        EXPERIMENT_NOTE: description,
        # MLflow 3's UI opens an experiment of this kind on its training runs, not on
        # the GenAI pages (traces, sessions).
        EXPERIMENT_KIND: "custom_model_development",
    }


def dataset_input(card: Mapping[str, Any], data_sha: str, context: str = "") -> DatasetInput:
    """The data of a run as an MLflow dataset input, so the UI's Dataset column and
    `search_runs(filter_string="dataset.name = ...")` find it. `card` is the dataset's
    metadata (name, version, provenance, licence: `dataset.json`'s fields); `context`
    says what the run used it for (a unit's fold)."""
    name = str(card.get("name") or "data")
    version = str(card.get("version", ""))
    source = {
        "provenance": str(card.get("provenance", "")),
        "licence": str(card.get("licence", "")),
        "version": version,
    }
    dataset = Dataset(
        name=name,
        digest=data_sha[:DIGEST_CHARS],
        source_type=DATASET_SOURCE_TYPE,
        source=json.dumps({"tags": source}, sort_keys=True),
        profile=json.dumps({"version": version, "sha256": data_sha}, sort_keys=True),
    )
    tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)] if context else []
    return DatasetInput(dataset, tags=tags)


DATASET_RACE_TRIES = 5


def log_dataset_input(client: Any, run_id: str, dataset: DatasetInput) -> None:
    """Log `dataset` on the run. MLflow looks a dataset up and then inserts it, so two
    drivers logging the same new dataset at once on a shared server can both insert: the
    loser is refused on the unique key (HTTP 400). The dataset then exists, and trying
    again finds and reuses it."""
    for attempt in range(DATASET_RACE_TRIES):
        try:
            client.log_inputs(run_id, datasets=[dataset])
            return
        except MlflowException as exc:
            if attempt + 1 == DATASET_RACE_TRIES or not _lost_insert_race(exc):
                raise
            time.sleep(0.05 * (attempt + 1))


def _lost_insert_race(exc: MlflowException) -> bool:
    text = str(exc).lower()
    return any(
        sign in text
        for sign in ("duplicate key", "unique constraint", "uniqueviolation", "integrityerror")
    )


def _version(dist: str) -> str:
    return distribution_version(dist)


def assay_commit() -> str:
    """The commit of the Assay checkout this code runs from, with `-dirty` for local
    changes; outside a checkout (an installed wheel), `assay <version>`. Never the
    commit of whatever directory the user ran from."""
    package = Path(__file__).resolve().parents[1]
    installed = f"assay {_version('assay')}"

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", "-C", str(package), *args],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None

    # The package's own files must be tracked there: a wheel inside some other repo's
    # virtualenv is not that repo's code.
    tracked = git("ls-files", "--error-unmatch", str(Path(__file__).resolve()))
    head = git("rev-parse", "HEAD")
    if tracked is None or tracked.returncode != 0 or head is None or head.returncode != 0:
        return installed
    status = git("status", "--porcelain", "--untracked-files=no", "--", str(package))
    dirty = status is not None and status.stdout.strip() != ""
    return head.stdout.strip() + ("-dirty" if dirty else "")


@dataclass
class ResumeState:
    recorded: dict[tuple[str, str], str] = field(default_factory=dict)
    """(parent key, run key) -> run id of each recorded unit, finished or failed."""
    failed: set[str] = field(default_factory=set)
    """Run ids of units recorded as failed (rerun with retry_failed)."""
    finished: dict[str, str] = field(default_factory=dict)
    """Run key -> run id of a finished unit under any parent: the same computation,
    reusable by an entry that differs only in its label."""
    parents: dict[str, str] = field(default_factory=dict)
    """parent key -> run id."""
    elsewhere: set[tuple[str, str]] = field(default_factory=set)
    """(parent key, run key) of units that a live driver has claimed and not yet recorded."""
    runs: dict[str, Any] = field(default_factory=dict)
    """Run id -> the stored run of each recorded unit (its metrics, for summaries)."""


class Tracker:
    """Writes runs from the driver. Nothing here is called from a worker."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri: str = tracking_uri or mlflow.get_tracking_uri()
        open_store(self.tracking_uri)
        self.client = TrackingClient(tracking_uri=self.tracking_uri)
        self.remote = remote.is_server(self.tracking_uri)
        """Each write is a request to a server (`assay.engine.recorder` writes beside the
        next units' work)."""
        if self.remote:  # a shared server may restart mid-suite
            remote.configure_for_server()
            retrying = remote.RetryingClient(self.client, self.tracking_uri, remote.retry_bound_s())
            self.client = cast(TrackingClient, retrying)  # the same methods, retried
        self._experiments: dict[str, str] = {}
        self._artifact_uris: dict[str, str] = {}
        """Run id -> artifact URI of the unit runs this driver created and has not yet
        recorded: their artifacts are written there without asking the store first."""
        self.owner = ownership.Owner.current()
        self.lease_s = ownership.lease_s()

    def experiment_id(self, spec: ScenarioSpec) -> str:
        if spec.id not in self._experiments:
            tags = experiment_tags(spec)
            existing = self.client.get_experiment_by_name(spec.id)
            if existing is not None:
                if existing.lifecycle_stage == "deleted":
                    with contextlib.suppress(MlflowException):  # restored by another driver
                        self.client.restore_experiment(existing.experiment_id)
                # One made by an import of run records, or by an older Assay, gets its
                # description and kind; a description someone edited in the UI is kept.
                for key, value in tags.items():
                    if key not in existing.tags:
                        try:
                            self.client.set_experiment_tag(existing.experiment_id, key, value)
                        except MlflowException as exc:  # another driver set it first
                            if not _duplicate_key(exc):
                                raise
                self._experiments[spec.id] = existing.experiment_id
            else:
                try:
                    self._experiments[spec.id] = self.client.create_experiment(spec.id, tags=tags)
                except MlflowException:  # another driver created it first
                    created = self.client.get_experiment_by_name(spec.id)
                    if created is None:
                        raise
                    self._experiments[spec.id] = created.experiment_id
        return self._experiments[spec.id]

    def _unit_runs(self, experiment_id: str) -> Iterator[Any]:
        token = None
        while True:
            page = self.client.search_runs(
                [experiment_id],
                filter_string=f"tags.`{TAG}kind` = 'unit'",
                max_results=1000,
                page_token=token,
            )
            yield from page
            token = page.token
            if not token:
                return

    def resume_state(self, spec: ScenarioSpec) -> ResumeState:
        """Units already recorded or claimed by a live driver. A claim whose driver is
        gone is marked abandoned; duplicates and extra parents are settled."""
        experiment_id = self.experiment_id(spec)
        state = ResumeState()
        recorded: dict[tuple[str, str], list[Any]] = {}
        now = time.time()
        for run in self._unit_runs(experiment_id):
            tags = run.data.tags
            key = (tags.get(f"{TAG}parent_key", ""), tags.get(f"{TAG}run_key", ""))
            if run.info.status == "RUNNING":
                reason = ownership.gone(tags, here=self.owner, lease=self.lease_s, now=now)
                if reason is None:
                    state.elsewhere.add(key)
                else:
                    self.abandon(run.info.run_id, reason)
            elif run.info.status != "KILLED" and key[1]:
                recorded.setdefault(key, []).append(run)
        for key, runs in recorded.items():
            run = self._keep_oldest(runs)
            state.recorded[key] = run.info.run_id
            state.runs[run.info.run_id] = run
            if run.info.status == "FAILED":
                state.failed.add(run.info.run_id)
            else:  # a copy as the source is fine: `reuse_unit` points at its original
                state.finished.setdefault(key[1], run.info.run_id)
        parents: dict[str, list[Any]] = {}
        for run in self._search(experiment_id, f"tags.`{TAG}kind` = 'parent'"):
            parents.setdefault(run.data.tags[f"{TAG}parent_key"], []).append(run)
        for parent_key, runs in parents.items():
            state.parents[parent_key] = self._fold_parents(runs)
        return state

    def _search(self, experiment_id: str, filter_string: str) -> list[Any]:
        runs, token = [], None
        while True:
            page = self.client.search_runs(
                [experiment_id], filter_string=filter_string, max_results=1000, page_token=token
            )
            runs += list(page)
            token = page.token
            if not token:
                return runs

    def abandon(self, run_id: str, reason: str) -> None:
        """Mark a run that will never be completed: status KILLED, the reason in a tag.
        Boards and resume read FINISHED and FAILED runs only."""
        self._artifact_uris.pop(run_id, None)
        try:
            self.client.set_tag(run_id, ownership.ABANDONED, reason[:4000])
        except MlflowException as exc:
            # Two drivers may abandon the same run at once (both fold the same parents);
            # on PostgreSQL the second insert of the tag is a duplicate key: it is set.
            if not _duplicate_key(exc):
                raise
        self.client.set_terminated(run_id, status="KILLED")

    def _keep_oldest(self, runs: list[Any]) -> Any:
        """The run that counts among several for one unit: a finished one before a failed
        one, never one that was abandoned and finished late, then the oldest; the others
        are marked abandoned as duplicates."""
        ordered = sorted(
            runs,
            key=lambda r: (
                r.info.status != "FINISHED",
                ownership.ABANDONED in r.data.tags,
                r.info.start_time,
                r.info.run_id,
            ),
        )
        for run in ordered[1:]:
            self.abandon(run.info.run_id, f"duplicate of run {ordered[0].info.run_id}")
        return ordered[0]

    def _fold_parents(self, runs: list[Any]) -> str:
        """The oldest of the parents of one entry; the others are folded into it: their
        children point at it and they are marked abandoned. Folded ones are looked at
        again, since a driver that chose one before it was folded may still add children."""
        oldest, *others = sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))
        keep: str = oldest.info.run_id
        for run in others:
            children = self._search(
                run.info.experiment_id, f"tags.`mlflow.parentRunId` = '{run.info.run_id}'"
            )
            for child in children:
                self.client.set_tag(child.info.run_id, "mlflow.parentRunId", keep)
            if run.info.status != "KILLED":
                self.abandon(run.info.run_id, f"folded into parent run {keep}")
        return keep

    def _one_parent(self, experiment_id: str, parent_key: str) -> str:
        runs = self._search(
            experiment_id,
            f"tags.`{TAG}kind` = 'parent' and tags.`{TAG}parent_key` = '{parent_key}'",
        )
        return self._fold_parents(runs)

    def claim_unit(self, spec: ScenarioSpec, parent_id: str, task: UnitTask) -> str | None:
        """Create the unit's run RUNNING, owned by this driver, just before it is dispatched.

        None when another driver has recorded the unit since `resume_state`, or holds an
        older live claim on it; this claim is then withdrawn (deleted: it holds nothing).
        Two drivers that claim at the same moment may both go ahead; `record_unit` then
        keeps one record."""
        experiment_id = self.experiment_id(spec)
        tags = {**_unit_identity(spec, parent_id, task), **self.owner.tags(self.lease_s)}
        mine = self.client.create_run(
            experiment_id, run_name=f"{task.unit}-s{task.seed}", tags=tags
        ).info
        self._artifact_uris[mine.run_id] = mine.artifact_uri
        now = time.time()
        for run in self._search(experiment_id, _unit_filter(task)):
            info = run.info
            if info.run_id == mine.run_id or info.status == "KILLED":
                continue
            if info.status == "RUNNING":
                if ownership.owned_by(run.data.tags, self.owner):
                    # This driver claims a unit once: another claim of its own is a
                    # create_run whose answer was lost and then retried.
                    self.abandon(info.run_id, "a second claim left by a retried request")
                    continue
                reason = ownership.gone(run.data.tags, here=self.owner, lease=self.lease_s, now=now)
                if reason is not None:
                    self.abandon(info.run_id, reason)
                    continue
                if (info.start_time, info.run_id) > (mine.start_time, mine.run_id):
                    continue  # a younger claim: its driver gives way when it sees this one
            self.discard(mine.run_id)
            return None
        self._log_dataset(mine.run_id, task)
        return str(mine.run_id)

    def heartbeat(self) -> ownership.Heartbeat:
        """Keeps this driver's claims alive while their units run."""

        def beat(run_id: str) -> None:
            self.client.set_tag(run_id, ownership.HEARTBEAT, repr(time.time()))

        return ownership.Heartbeat(beat, self.lease_s / 4)

    def discard(self, run_id: str) -> None:
        self._artifact_uris.pop(run_id, None)
        self.client.delete_run(run_id)

    def parent_run(
        self,
        spec: ScenarioSpec,
        task: UnitTask,
        plugin: str,
        known: dict[str, str],
        dataset: DatasetMetadata | None = None,
    ) -> str:
        """The parent run for (scenario, model), created once and reused on resume.

        Drivers that create it at the same time settle on the oldest (`_fold_parents`).
        The dataset's provenance, licence and notes (rows dropped, duplicates
        merged, ...) are kept with it as `dataset.json`, so they travel with the
        numbers.
        """
        key = task.parent_key
        if key in known:
            return known[key]
        experiment_id = self.experiment_id(spec)
        tags = {
            f"{TAG}kind": "parent",
            f"{TAG}parent_key": key,
            f"{TAG}scenario": spec.id,
            f"{TAG}scenario_version": spec.version,
            f"{TAG}size": task.size,
            f"{TAG}plugin": plugin,
            f"{TAG}version.plugin": _version(f"assay-{plugin}")
            if plugin != "core"
            else _version("assay"),
            f"{TAG}model": task.model.name,
            f"{TAG}model_label": task.model.display_name,
            f"{TAG}params_hash": task.params_hash,
            f"{TAG}data_sha": task.data_sha,
            **environment_tags(),
            **{f"{TAG}driver.{k}": v for k, v in hardware_tags().items()},
        }
        run = self.client.create_run(
            experiment_id, run_name=f"{task.model.display_name}", tags=tags
        )
        params = [
            Param(f"model.{k}", _param_value(v)) for k, v in sorted(task.model.params.items())
        ]
        log_batches(self.client, run.info.run_id, params=params)
        run_id: str = run.info.run_id
        if dataset is not None:
            card = dataclasses.asdict(dataset)
            self.client.log_dict(run_id, card, DATASET_ARTIFACT)
            self.client.set_tag(run_id, f"{TAG}data_notes", str(len(dataset.notes)))
            log_dataset_input(self.client, run_id, dataset_input(card, task.data_sha))
        run_id = self._one_parent(experiment_id, key)
        known[key] = run_id
        return run_id

    def record_unit(
        self,
        spec: ScenarioSpec,
        parent_id: str,
        result: UnitResult,
        reused_from: str = "",
        run_id: str | None = None,
    ) -> str:
        """One child run per unit, on its claim `run_id` when it has one; its terminal
        status is the last write. `reused_from` names the run of the same computation
        recorded for another entry."""
        task = result.task
        experiment_id = self.experiment_id(spec)
        tags = {
            **_unit_identity(spec, parent_id, task),
            f"{TAG}status": result.status,
            **{f"{TAG}info.{k}": v for k, v in result.info.items()},
            **environment_tags(),
            **{f"{TAG}{k}": v for k, v in result.environment.items()},
        }
        if reused_from:
            tags[f"{TAG}reused_from"] = reused_from
        tags |= _folds_tags(task)
        if result.error:
            tags[f"{TAG}error"] = result.error[:4000]
        logged_tags: list[RunTag] = []
        if run_id is None:
            info = self.client.create_run(
                experiment_id, run_name=f"{task.unit}-s{task.seed}", tags=tags
            ).info
            run_id, artifact_uri = info.run_id, info.artifact_uri
        else:  # the claim: its tags go with the metrics
            logged_tags = [RunTag(k, v) for k, v in tags.items()]
            artifact_uri = self._artifact_uris.pop(run_id, "")
        values = {
            **result.metrics,
            "fit_seconds": result.fit_seconds,
            "predict_seconds": result.predict_seconds,
            "peak_memory_mb": result.peak_memory_mb,
            "wall_seconds": result.wall_seconds,
        }
        metrics = [Metric(k, float(v), 0, 0) for k, v in values.items() if _finite(v)]
        metrics += [
            Metric(name, float(value), 0, step)
            for name, trace in result.steps.items()
            for step, value in trace
            if _finite(value)
        ]
        params = [Param("seed", str(task.seed)), Param("unit", task.unit)]
        log_batches(self.client, run_id, metrics=metrics, params=params, tags=logged_tags)
        if not logged_tags:  # a claim has its dataset from `claim_unit`
            self._log_dataset(run_id, task)
        if result.predictions:
            buffer = io.StringIO()
            pd.DataFrame(result.predictions).to_csv(buffer, index=False)
            self._log_text(run_id, artifact_uri, buffer.getvalue(), "predictions.csv")
        if result.error_detail:
            self._log_text(run_id, artifact_uri, result.error_detail, "error.txt")
        self.client.set_terminated(run_id, status="FINISHED" if result.ok else "FAILED")
        return run_id

    def reuse_unit(self, spec: ScenarioSpec, parent_id: str, task: UnitTask, source_id: str) -> str:
        """Record a finished unit of the same computation (same run key: rows, model,
        parameters, seed) under this task's parent, with its metrics and artifacts, so
        an entry that differs from another only in its label is not recomputed."""
        source = self.client.get_run(source_id)
        # The outcome (status, fitted choices, where it was computed) is the source's;
        # the identity (parent, label, size) is this task's.
        tags = {k: v for k, v in source.data.tags.items() if not k.startswith("mlflow.")}
        tags |= _unit_identity(spec, parent_id, task) | _folds_tags(task)
        tags[f"{TAG}reused_from"] = source.data.tags.get(f"{TAG}reused_from", source_id)
        run = self.client.create_run(
            self.experiment_id(spec), run_name=f"{task.unit}-s{task.seed}", tags=tags
        )
        run_id: str = run.info.run_id
        metrics = [Metric(k, v, 0, 0) for k, v in source.data.metrics.items()]
        params = [Param(k, v) for k, v in source.data.params.items()]
        log_batches(self.client, run_id, metrics=metrics, params=params)
        self._log_dataset(run_id, task)
        if self.client.list_artifacts(source_id):
            # Through this tracker's client, so a shared server's outage is retried within
            # its bound here too (`assay.engine.remote`), never raised as a bare MLflow error.
            with tempfile.TemporaryDirectory() as scratch:
                local = self.client.download_artifacts(source_id, "", scratch)
                self.client.log_artifacts(run_id, local)
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    def _log_text(self, run_id: str, artifact_uri: str, text: str, artifact_file: str) -> None:
        """An artifact of a unit run, straight to its location when known (a run this
        driver created), else where the store says (one more request)."""
        if artifact_uri:
            self.client.log_text_at(artifact_uri, text, artifact_file)
        else:
            self.client.log_text(run_id, text, artifact_file)

    def _log_dataset(self, run_id: str, task: UnitTask) -> None:
        """The unit's data as the run's dataset input, its fold as the context."""
        if task.dataset is not None:
            card = dataclasses.asdict(task.dataset)
            log_dataset_input(self.client, run_id, dataset_input(card, task.data_sha, task.unit))

    def finish_parent(self, spec: ScenarioSpec, parent_id: str, parent_key: str) -> None:
        """Summarise every recorded child (this session's and earlier ones) on the parent."""
        parent_id = self._one_parent(self.experiment_id(spec), parent_key)
        records: dict[str, list[Any]] = {}
        for run in self._unit_runs(self.experiment_id(spec)):
            if run.data.tags.get(f"{TAG}parent_key") == parent_key and run.info.status in (
                "FINISHED",
                "FAILED",
            ):  # not claims, nor abandoned runs
                records.setdefault(run.data.tags.get(f"{TAG}run_key", run.info.run_id), []).append(
                    run
                )
        # Two drivers that both recorded a unit (one took the other's claim for gone) keep
        # one: each driver's summary comes after its own records, so the later sees both.
        children = [
            self._keep_oldest(runs) if len(runs) > 1 else runs[0] for runs in records.values()
        ]
        ok = [run for run in children if run.info.status == "FINISHED"]
        summary: dict[str, float] = {}
        for metric in spec.metrics:
            values = {
                (run.data.tags[f"{TAG}unit"], int(run.data.tags[f"{TAG}seed"])): run.data.metrics[
                    metric.name
                ]
                for run in ok
                if metric.name in run.data.metrics
            }
            if values:
                mean, std, _ = describe(values)
                summary[f"{metric.name}_mean"] = mean
                summary[f"{metric.name}_std"] = std
        metrics = [Metric(k, v, 0, 0) for k, v in summary.items() if _finite(v)]
        tags = [
            RunTag(f"{TAG}units", str(len(children))),
            RunTag(f"{TAG}failures", str(len(children) - len(ok))),
        ]
        partial = partial_folds([run.data.tags for run in children])
        if partial:
            tags.append(RunTag(f"{TAG}partial_folds", partial))
        elif f"{TAG}partial_folds" in self.client.get_run(parent_id).data.tags:
            self.client.delete_tag(parent_id, f"{TAG}partial_folds")  # now complete
        self.client.log_batch(parent_id, metrics=metrics, tags=tags)
        self.client.set_terminated(parent_id, status="FINISHED")


def _folds_tags(task: UnitTask) -> dict[str, str]:
    """What a unit says about its entry beyond its identity: the user's data, and the
    folds of a `--folds` run. Absent from every run that has neither."""
    tags = {f"{TAG}user_data": task.user_data} if task.user_data else {}
    if task.folds_chosen:
        tags[f"{TAG}folds_chosen"] = ",".join(map(str, task.folds_chosen))
        tags[f"{TAG}folds_total"] = str(task.folds_total)
    return tags


def partial_folds(unit_tags: Sequence[Mapping[str, str]]) -> str:
    """`folds 0,2 of 5` when an entry's units came from `--folds` runs and some of the
    plan's units are missing; empty for a complete entry (and for every run recorded
    before `--folds` existed, which carry no such tags)."""
    totals = {int(t[f"{TAG}folds_total"]) for t in unit_tags if f"{TAG}folds_total" in t}
    if not totals:
        return ""
    units = {t.get(f"{TAG}unit") for t in unit_tags}
    if len(units) >= max(totals):
        return ""
    chosen = sorted(
        {int(i) for t in unit_tags for i in t.get(f"{TAG}folds_chosen", "").split(",") if i}
    )
    return f"folds {','.join(map(str, chosen))} of {max(totals)}"


def stored_result(task: UnitTask, run: Any) -> UnitResult:
    """A unit recorded earlier, as a result: what a summary of its entry needs."""
    metrics, tags = run.data.metrics, run.data.tags
    return UnitResult(
        task=task,
        status="ok" if run.info.status == "FINISHED" else "failed",
        metrics={name: metrics[name] for name in task.metrics if name in metrics},
        fit_seconds=metrics.get("fit_seconds", float("nan")),
        predict_seconds=metrics.get("predict_seconds", float("nan")),
        peak_memory_mb=metrics.get("peak_memory_mb", float("nan")),
        wall_seconds=metrics.get("wall_seconds", float("nan")),
        error=tags.get(f"{TAG}error", ""),
        run_id=run.info.run_id,
    )


def _unit_identity(spec: ScenarioSpec, parent_id: str, task: UnitTask) -> dict[str, str]:
    return {
        "mlflow.parentRunId": parent_id,
        f"{TAG}kind": "unit",
        f"{TAG}run_key": task.run_key,
        f"{TAG}parent_key": task.parent_key,
        f"{TAG}scenario": spec.id,
        f"{TAG}scenario_version": spec.version,
        f"{TAG}size": task.size,
        f"{TAG}model": task.model.name,
        f"{TAG}model_label": task.model.display_name,
        f"{TAG}unit": task.unit,
        f"{TAG}seed": str(task.seed),
        f"{TAG}data_sha": task.data_sha,
        f"{TAG}split_sha": task.split_sha,
    }


def _unit_filter(task: UnitTask) -> str:
    return (
        f"tags.`{TAG}run_key` = '{task.run_key}' and tags.`{TAG}parent_key` = '{task.parent_key}'"
    )


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text[:6000]


def _duplicate_key(exc: Exception) -> bool:
    """Whether a store refused a write because another writer made the same one first."""
    text = str(exc)
    return any(
        sign in text for sign in ("duplicate key", "UNIQUE constraint failed", "UniqueViolation")
    )
