"""MLflow tracking, with MLflow's own conventions.

`MLFLOW_TRACKING_URI` picks the store; unset, MLflow's default local sqlite
store is used. One experiment per scenario; a parent run per (scenario,
model) and a child run per unit. A child's status is written last, so a run
left RUNNING by a killed driver is known to be incomplete: `resume_state`
deletes those, and the runner skips units whose child finished. A finished
unit with the same run key under another parent (an entry that differs only
in its label, or a size that changes nothing but seeds) is copied, not rerun.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from assay.data import DatasetMetadata
from assay.spec import ScenarioSpec
from assay.stats import describe
from assay.units import UnitResult, UnitTask, distribution_version, hardware_tags

KEY_LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "mlflow", "torch")
TAG = "assay."


@cache
def environment_tags() -> dict[str, str]:
    """The driver's software: versions and Assay's own commit, the same for all its runs.
    A unit's machine and its plugin's key libraries come from the process that ran it."""
    tags = {f"{TAG}version.{lib}": _version(lib) for lib in ("assay", *KEY_LIBRARIES)}
    tags[f"{TAG}git_commit"] = assay_commit()
    return tags


def _version(dist: str) -> str:
    return distribution_version(dist)


def assay_commit() -> str:
    """The commit of the Assay checkout this code runs from, with `-dirty` for local
    changes; outside a checkout (an installed wheel), `assay <version>`. Never the
    commit of whatever directory the user ran from."""
    package = Path(__file__).resolve().parent
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


def _batched(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Tracker:
    """Writes runs from the driver. Nothing here is called from a worker."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri: str = tracking_uri or mlflow.get_tracking_uri()
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        self._experiments: dict[str, str] = {}

    def experiment_id(self, spec: ScenarioSpec) -> str:
        if spec.id not in self._experiments:
            existing = self.client.get_experiment_by_name(spec.id)
            if existing is not None:
                if existing.lifecycle_stage == "deleted":
                    self.client.restore_experiment(existing.experiment_id)
                self._experiments[spec.id] = existing.experiment_id
            else:
                self._experiments[spec.id] = self.client.create_experiment(
                    spec.id, tags={f"{TAG}scenario": spec.id, f"{TAG}title": spec.title}
                )
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
        """Units already recorded; incomplete children left by a killed driver are deleted."""
        experiment_id = self.experiment_id(spec)
        state = ResumeState()
        for run in self._unit_runs(experiment_id):
            tags = run.data.tags
            key = tags.get(f"{TAG}run_key")
            if run.info.status == "RUNNING" or key is None:
                self.client.delete_run(run.info.run_id)
                continue
            state.recorded[(tags.get(f"{TAG}parent_key", ""), key)] = run.info.run_id
            if run.info.status == "FAILED":
                state.failed.add(run.info.run_id)
            else:  # a copy as the source is fine: `reuse_unit` points at its original
                state.finished.setdefault(key, run.info.run_id)
        parents = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{TAG}kind` = 'parent'", max_results=10000
        )
        for run in parents:
            state.parents[run.data.tags[f"{TAG}parent_key"]] = run.info.run_id
        return state

    def discard(self, run_id: str) -> None:
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
        for batch in _batched(params, 100):
            self.client.log_batch(run.info.run_id, params=batch)
        run_id: str = run.info.run_id
        if dataset is not None:
            self.client.log_dict(run_id, dataclasses.asdict(dataset), "dataset.json")
            self.client.set_tag(run_id, f"{TAG}data_notes", str(len(dataset.notes)))
        known[key] = run_id
        return run_id

    def record_unit(
        self, spec: ScenarioSpec, parent_id: str, result: UnitResult, reused_from: str = ""
    ) -> str:
        """One child run per unit; its terminal status is the last write. `reused_from`
        names the run of the same computation recorded for another entry."""
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
        if result.error:
            tags[f"{TAG}error"] = result.error[:4000]
        run = self.client.create_run(experiment_id, run_name=f"{task.unit}-s{task.seed}", tags=tags)
        run_id: str = run.info.run_id
        values = {
            **result.metrics,
            "fit_seconds": result.fit_seconds,
            "predict_seconds": result.predict_seconds,
            "peak_memory_mb": result.peak_memory_mb,
            "wall_seconds": result.wall_seconds,
        }
        metrics = [Metric(k, float(v), 0, 0) for k, v in values.items() if _finite(v)]
        params = [Param("seed", str(task.seed)), Param("unit", task.unit)]
        self.client.log_batch(run_id, metrics=metrics, params=params)
        if result.predictions:
            buffer = io.StringIO()
            pd.DataFrame(result.predictions).to_csv(buffer, index=False)
            self.client.log_text(run_id, buffer.getvalue(), "predictions.csv")
        if result.error_detail:
            self.client.log_text(run_id, result.error_detail, "error.txt")
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
        tags |= _unit_identity(spec, parent_id, task)
        tags[f"{TAG}reused_from"] = source.data.tags.get(f"{TAG}reused_from", source_id)
        run = self.client.create_run(
            self.experiment_id(spec), run_name=f"{task.unit}-s{task.seed}", tags=tags
        )
        run_id: str = run.info.run_id
        metrics = [Metric(k, v, 0, 0) for k, v in source.data.metrics.items()]
        params = [Param(k, v) for k, v in source.data.params.items()]
        self.client.log_batch(run_id, metrics=metrics, params=params)
        if self.client.list_artifacts(source_id):
            with tempfile.TemporaryDirectory() as scratch:
                local = mlflow.artifacts.download_artifacts(
                    run_id=source_id, dst_path=scratch, tracking_uri=self.tracking_uri
                )
                self.client.log_artifacts(run_id, local)
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    def finish_parent(self, spec: ScenarioSpec, parent_id: str, parent_key: str) -> None:
        """Summarise every recorded child (this session's and earlier ones) on the parent."""
        children = [
            run
            for run in self._unit_runs(self.experiment_id(spec))
            if run.data.tags.get(f"{TAG}parent_key") == parent_key
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
        self.client.log_batch(parent_id, metrics=metrics, tags=tags)
        self.client.set_terminated(parent_id, status="FINISHED")


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


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text[:6000]
