"""What a board reads from MLflow: the unit runs of a scenario at one size, grouped into
rows (one per model, label and parameters), and what their tags and artifacts record
(test sizes, stored predictions, discovery traces, the data card, the environment).
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from assay.engine.store import read_artifact
from assay.engine.tracking import DATASET_ARTIFACT, EXTERNAL, TAG
from assay.engine.units import parent_key
from assay.evaluation.predictions import Predictions
from assay.evaluation.protocols import predictions_from_columns
from assay.evaluation.stats import (
    UnitKey,
)
from assay.spec import ModelEntry, ScenarioSpec, Size

FINISHED_STATES = ("FINISHED", "FAILED")
"""Abandoned runs (KILLED) are neither results nor failures."""


def _unit_runs(
    client: MlflowClient, experiment_id: str, spec: ScenarioSpec, size: str
) -> list[Any]:
    query = (
        f"tags.`{TAG}kind` = 'unit' and tags.`{TAG}size` = '{size}' "
        f"and tags.`{TAG}scenario_version` = '{spec.version}'"
    )
    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=query, max_results=1000, page_token=token
        )
        runs += [r for r in page if r.info.status in FINISHED_STATES]
        token = page.token
        if not token:
            return runs


def selected_runs(
    client: MlflowClient, spec: ScenarioSpec, size: Size, models: Sequence[ModelEntry] | None
) -> list[Any]:
    experiment = client.get_experiment_by_name(spec.id)
    if experiment is None:
        return []
    runs = _unit_runs(client, experiment.experiment_id, spec, size)
    if models is not None:
        shas = {r.data.tags[f"{TAG}data_sha"] for r in runs}
        keys = {parent_key(spec.key, size, sha, m) for sha in shas for m in models}
        # Verified external entries (`assay import`) join every board of their scenario.
        runs = [
            r
            for r in runs
            if r.data.tags.get(f"{TAG}parent_key") in keys or EXTERNAL in r.data.tags
        ]
    return runs


def newest_per_unit(runs: list[Any]) -> list[Any]:
    """One run per (entry, unit, seed): the newest, so a unit recomputed under a new run
    key (a new plugin version, say) replaces its old result instead of doubling it."""
    newest: dict[tuple[str, str, str], Any] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time):
        tags = run.data.tags
        newest[(tags.get(f"{TAG}parent_key", ""), tags[f"{TAG}unit"], tags[f"{TAG}seed"])] = run
    return list(newest.values())


def unit_key(run: Any) -> UnitKey:
    return run.data.tags[f"{TAG}unit"], int(run.data.tags[f"{TAG}seed"])


def test_train_ratio(runs: Sequence[Any]) -> float:
    """n_test / n_train of the folds, for the variance correction."""
    ratios = []
    for run in runs:
        tags = run.data.tags
        n_train, n_test = tags.get(f"{TAG}info.n_train"), tags.get(f"{TAG}info.n_test")
        if n_train and n_test and int(n_train) > 0:
            ratios.append(int(n_test) / int(n_train))
    return float(np.mean(ratios)) if ratios else 0.25  # 5-fold when the sizes are unknown


def fixed_test_set(runs: Sequence[Any]) -> bool:
    """True when every unit scored the same test rows (one unit, seeds only)."""
    shas = {r.data.tags.get(f"{TAG}info.test_sha") for r in runs}
    if None not in shas:
        return len(shas) == 1
    return len({r.data.tags[f"{TAG}unit"] for r in runs}) == 1


class StoredPredictions:
    """Stored predictions of a fixed-test-set board, aligned on the test rows."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self.rows: np.ndarray[Any, Any] | None = None
        self.y_true: np.ndarray[Any, Any] | None = None

    def load(self, run: Any) -> Predictions | None:
        text = read_artifact(self.client, run, "predictions.csv")
        if text is None:  # no artifact (an old run): no bootstrap for this entry
            return None
        frame = pd.read_csv(io.StringIO(text)).sort_values("row", kind="stable")
        rows, y_true, predictions = predictions_from_columns(frame)
        if self.rows is None:
            self.rows, self.y_true = rows, y_true
        elif not np.array_equal(self.rows, rows):
            return None
        return predictions


def pending_entries(
    scenario: str, size: str, data_sha: str, models: Sequence[ModelEntry] | None, runs: list[Any]
) -> list[str]:
    if models is None:
        return []
    seen = {r.data.tags.get(f"{TAG}parent_key") for r in runs}
    return [m.display_name for m in models if parent_key(scenario, size, data_sha, m) not in seen]


def trace_curve(client: MlflowClient, run: Any) -> tuple[str, np.ndarray[Any, Any]] | None:
    """A campaign's discovery curve from its stored trace: top-k recall where the pool's
    top candidates are marked, else the best-so-far; padded to the budget (a pool measured
    to its end keeps its last value)."""
    text = read_artifact(client, run, "predictions.csv")
    if text is None:
        return None
    frame = pd.read_csv(io.StringIO(text))
    tags = run.data.tags
    budget = int(tags.get(f"{TAG}info.budget", len(frame)))
    n_top = tags.get(f"{TAG}info.n_top")
    if "top" in frame.columns and n_top:
        name, curve = "top_recall", np.cumsum(frame["top"].to_numpy(dtype=float)) / int(n_top)
    else:
        name, curve = "best_so_far", frame["best_so_far"].to_numpy(dtype=float)
    if curve.size == 0:
        return None
    return name, np.concatenate([curve, np.full(max(0, budget - curve.size), curve[-1])])


def _parent_run(client: MlflowClient, unit_run: Any) -> Any | None:
    parent_id = unit_run.data.tags.get("mlflow.parentRunId")
    if not parent_id:
        return None
    try:
        return client.get_run(parent_id)
    except Exception:  # a parent deleted from the store: no card, the numbers still stand
        return None


def data_card(client: MlflowClient, unit_run: Any) -> dict[str, Any]:
    """`dataset.json` of the run's parent: provenance, licence and notes as the runner
    recorded them; empty when the runs predate it."""
    parent = _parent_run(client, unit_run)
    if parent is None:
        return {}
    text = read_artifact(client, parent, DATASET_ARTIFACT)
    if text is None:  # not recorded (an older run)
        return {}
    try:
        card = json.loads(text)
    except ValueError:
        return {}
    return card if isinstance(card, dict) else {}


def environment_tags(client: MlflowClient, unit_run: Any) -> dict[str, str]:
    tags = dict(unit_run.data.tags)
    parent = _parent_run(client, unit_run)
    if parent is not None:
        tags = {**parent.data.tags, **tags}
    keep = {k.removeprefix(TAG): v for k, v in tags.items() if k.startswith(f"{TAG}version.")}
    if f"{TAG}git_commit" in tags:
        keep["git_commit"] = tags[f"{TAG}git_commit"]
    return dict(sorted(keep.items()))


def board_rows(
    client: MlflowClient, runs: list[Any], *, describe_unlabelled: bool
) -> dict[str, list[Any]]:
    """Unit runs per board row: one row per parent key (model, label, parameters).

    Rows that share a label (an ad-hoc `assay run -m ridge -p alpha=1000` beside
    the suite's `ridge`) are named with their parameters, `ridge [alpha=1000]`,
    so runs with other parameters never mix into one row; the row with the
    model's default parameters keeps the bare label. With `describe_unlabelled`
    (no suite names the entries) every row without its own label is named so."""
    groups: dict[str, list[Any]] = defaultdict(list)
    for run in runs:
        tags = run.data.tags
        groups[tags.get(f"{TAG}parent_key") or tags[f"{TAG}model_label"]].append(run)
    label_count = Counter(_label(g[0].data.tags) for g in groups.values())
    rows: dict[str, list[Any]] = {}
    for group in groups.values():
        tags = group[0].data.tags
        label = _label(tags)
        unlabelled = describe_unlabelled and tags[f"{TAG}model_label"] == tags[f"{TAG}model"]
        described = (
            _parameters_text(client, group[0]) if label_count[label] > 1 or unlabelled else ""
        )
        label = f"{label} [{described}]" if described else label
        if label in rows:  # parameters that print alike but differ (1 and "1")
            label = f"{label} ({tags.get(f'{TAG}parent_key', '')[:8]})"
        rows[label] = group
    return rows


def _label(tags: Mapping[str, str]) -> str:
    """The entry's label; an external entry's says so, never mixed up with our own run of
    the same model."""
    label = tags[f"{TAG}model_label"]
    return f"{label} (external)" if EXTERNAL in tags else label


def _parameters_text(client: MlflowClient, unit_run: Any) -> str:
    """The model's name when the label hides it and its parameters, from the parent
    run; empty for the labelled model with default parameters."""
    tags = unit_run.data.tags
    parent = client.get_run(tags["mlflow.parentRunId"])
    params = sorted(
        (key.removeprefix("model."), value)
        for key, value in parent.data.params.items()
        if key.startswith("model.")
    )
    text = ", ".join(f"{key}={value}" for key, value in params)
    model = tags[f"{TAG}model"]
    if model == tags[f"{TAG}model_label"]:
        return text
    return f"{model}: {text or 'default parameters'}"


def mean_metric(runs: list[Any], metric: str) -> float:
    values = [r.data.metrics[metric] for r in runs if metric in r.data.metrics]
    return float(np.mean(values)) if values else float("nan")


RESUMED_TAG = f"{TAG}info.fitted.resumed_at_epoch"
"""Set by a torch fit that went on from its checkpoint (`assay.evaluation.checkpoints`)."""


def resumed_epochs(runs: list[Any]) -> str:
    """The epochs at which these units' fits were resumed, `3, 12`; empty when none was."""
    epochs = {int(r.data.tags[RESUMED_TAG]) for r in runs if RESUMED_TAG in r.data.tags}
    return ", ".join(str(e) for e in sorted(epochs))
