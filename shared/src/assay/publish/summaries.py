"""What is stored for a scenario: each tracked entry's summary, read back from MLflow.

`finish_parent` keeps every entry's summary (mean and std of each metric over all its
recorded units, unit and failure counts) on its parent run; this reads them again, so a
finished run's numbers can be printed without running anything (`assay show --runs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlflow.tracking import MlflowClient

from assay.engine.store import read_artifact
from assay.engine.tracking import DATASET_ARTIFACT, TAG
from assay.spec import ScenarioSpec


@dataclass(frozen=True)
class StoredEntry:
    size: str
    data_sha: str
    data_name: str
    """The data's name on its card (a user's file name), or empty when none was kept."""
    model: str
    units: int
    failures: int
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)
    """metric -> (mean, std) over every recorded unit of the entry."""
    partial: str = ""
    """The folds a `--folds` run chose, when the entry holds only those."""


def stored_entries(client: MlflowClient, spec: ScenarioSpec) -> list[StoredEntry]:
    """Every entry of the scenario's version tracked in the store, by size, data and model."""
    experiment = client.get_experiment_by_name(spec.id)
    if experiment is None:
        return []
    query = (
        f"tags.`{TAG}kind` = 'parent' and tags.`{TAG}scenario_version` = '{spec.version}' "
        "and attributes.status = 'FINISHED'"
    )
    names: dict[str, str] = {}
    entries = []
    for run in client.search_runs([experiment.experiment_id], filter_string=query):
        tags, values = run.data.tags, run.data.metrics
        sha = tags.get(f"{TAG}data_sha", "")
        if sha not in names:
            names[sha] = _data_name(client, run)
        entries.append(
            StoredEntry(
                size=tags.get(f"{TAG}size", "?"),
                data_sha=sha,
                data_name=names[sha],
                model=tags.get(f"{TAG}model_label", "?"),
                units=int(tags.get(f"{TAG}units", "0")),
                failures=int(tags.get(f"{TAG}failures", "0")),
                metrics={
                    m.name: (values[f"{m.name}_mean"], values.get(f"{m.name}_std", float("nan")))
                    for m in spec.metrics
                    if f"{m.name}_mean" in values
                },
                partial=tags.get(f"{TAG}partial_folds", ""),
            )
        )
    return sorted(entries, key=lambda e: (e.size, e.data_name, e.data_sha, e.model))


def _data_name(client: MlflowClient, parent: Any) -> str:
    text = read_artifact(client, parent, DATASET_ARTIFACT)
    try:
        card = json.loads(text) if text else {}
    except ValueError:
        return ""
    return str(card.get("name", "")) if isinstance(card, dict) else ""
