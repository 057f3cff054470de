"""Run records: the compact, committed copy of the runs behind each leaderboard.

An MLflow store lives on one machine; a board must be rebuildable (and
re-analysable with new statistics) from a fresh clone. Beside the boards,
`records/<scenario>.jsonl.gz` holds one line per unit run: its tags (run key
included), params, metrics, status, times, its parent's tags and params, and
its artifacts (predictions, traceback). `records/SHA256SUMS` pins every file.
Importing recreates, in any store, the runs it lacks (matched on parent key
and run key), so `assay leaderboard build` gives the same numbers anywhere.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from assay import ownership
from assay.errors import DataError
from assay.store import read_artifact
from assay.tracking import DATASET_ARTIFACT, TAG

RECORDS_DIR = "records"
MANIFEST = "SHA256SUMS"
ARTIFACTS = ("predictions.csv", "error.txt")
PARENT_ARTIFACTS = (DATASET_ARTIFACT,)
"""The data card: provenance, licence and notes, shown on the boards."""
IMPORTED = f"{TAG}imported"


def _recorded_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags worth keeping: not MLflow's own, nor the mark of an earlier import, nor who
    held the run in its store (so a store rebuilt from records writes the same records
    again)."""
    return {
        k: v
        for k, v in sorted(tags.items())
        if not k.startswith("mlflow.") and k != IMPORTED and k not in ownership.CLAIM_TAGS
    }


def _run_record(client: MlflowClient, run: Any, parents: dict[str, Any]) -> dict[str, Any]:
    parent_id = run.data.tags.get("mlflow.parentRunId", "")
    if parent_id and parent_id not in parents:
        parents[parent_id] = client.get_run(parent_id)
    parent = parents.get(parent_id)
    return {
        "run_name": run.info.run_name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "tags": _recorded_tags(run.data.tags),
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
        "parent": None
        if parent is None
        else {
            "run_name": parent.info.run_name,
            "start_time": parent.info.start_time,
            "tags": _recorded_tags(parent.data.tags),
            "params": dict(sorted(parent.data.params.items())),
            "artifacts": _artifacts(client, parent, PARENT_ARTIFACTS),
        },
        "artifacts": _artifacts(client, run, ARTIFACTS),
    }


def _artifacts(client: MlflowClient, run: Any, names: Iterable[str]) -> dict[str, str]:
    found = {name: read_artifact(client, run, name) for name in names}
    return {name: text for name, text in found.items() if text is not None}


def write_records(client: MlflowClient, scenario: str, runs: Iterable[Any], out_dir: Path) -> Path:
    """Write one scenario's unit runs (sorted, so a rebuild writes the same bytes)."""
    parents: dict[str, Any] = {}
    records = [_run_record(client, run, parents) for run in runs]
    records.sort(key=lambda r: (r["tags"].get(f"{TAG}parent_key", ""), r["tags"][f"{TAG}run_key"]))
    path = out_dir / RECORDS_DIR / f"{scenario}.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for record in records:
            gz.write((json.dumps(record, sort_keys=True) + "\n").encode())
    tmp.replace(path)
    return path


def write_manifest(out_dir: Path) -> Path:
    """sha256 of every records file, in `sha256sum` format."""
    root = out_dir / RECORDS_DIR
    lines = [
        f"{_sha256(path)}  {path.relative_to(root).as_posix()}"
        for path in sorted(root.rglob("*.jsonl.gz"))
    ]
    manifest = root / MANIFEST
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_records(out_dir: Path) -> Iterator[dict[str, Any]]:
    """Every record under `out_dir/records`, each file checked against the manifest first."""
    root = out_dir / RECORDS_DIR
    manifest = root / MANIFEST
    if not manifest.is_file():
        return
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        expected, _, name = line.partition("  ")
        path = root / name
        if not path.is_file():
            raise DataError(f"run records: {path} is listed in {manifest} but missing")
        if _sha256(path) != expected:
            raise DataError(
                f"run records: {path} does not match its sha256 in {manifest}; "
                "restore it with git checkout"
            )
        try:
            with gzip.open(path, "rt", encoding="utf-8") as lines:
                for text in lines:
                    yield json.loads(text)
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"run records: {path} cannot be read ({exc})") from None


class _Store:
    """What one experiment already holds: recorded units and parents by key."""

    def __init__(self, client: MlflowClient, experiment_id: str) -> None:
        self.units: set[tuple[str, str]] = set()
        self.parents: dict[str, str] = {}
        token = None
        while True:
            page = client.search_runs([experiment_id], max_results=1000, page_token=token)
            for run in page:
                tags = run.data.tags
                if tags.get(f"{TAG}kind") == "parent":
                    self.parents.setdefault(tags.get(f"{TAG}parent_key", ""), run.info.run_id)
                elif run.info.status in ("FINISHED", "FAILED") and f"{TAG}run_key" in tags:
                    self.units.add((tags.get(f"{TAG}parent_key", ""), tags[f"{TAG}run_key"]))
            token = page.token
            if not token:
                return


def import_records(client: MlflowClient, out_dir: Path) -> int:
    """Recreate the recorded runs the store lacks; returns how many units were imported."""
    return add_records(client, read_records(out_dir))


def add_records(
    client: MlflowClient, records: Iterable[dict[str, Any]], origin: str = "records"
) -> int:
    """Recreate the given records' runs the store lacks, tagged `assay.imported=<origin>`."""
    stores: dict[str, tuple[str, _Store]] = {}
    imported = 0
    for record in records:
        tags = record["tags"]
        scenario = tags[f"{TAG}scenario"]
        if scenario not in stores:
            experiment = client.get_experiment_by_name(scenario)
            experiment_id = (
                experiment.experiment_id
                if experiment is not None
                else client.create_experiment(scenario, tags={f"{TAG}scenario": scenario})
            )
            stores[scenario] = (experiment_id, _Store(client, experiment_id))
        experiment_id, store = stores[scenario]
        key = (tags.get(f"{TAG}parent_key", ""), tags[f"{TAG}run_key"])
        if key in store.units:
            continue
        parent_id = _parent(client, experiment_id, store, record, origin)
        _unit(client, experiment_id, parent_id, record, origin)
        store.units.add(key)
        imported += 1
    return imported


def _parent(
    client: MlflowClient, experiment_id: str, store: _Store, record: dict[str, Any], origin: str
) -> str:
    parent = record["parent"] or {"tags": {}, "params": {}, "run_name": "", "start_time": None}
    key = record["tags"].get(f"{TAG}parent_key", "")
    if key in store.parents:
        return store.parents[key]
    run = client.create_run(
        experiment_id,
        start_time=parent["start_time"],
        tags={**parent["tags"], IMPORTED: origin},
        run_name=parent["run_name"],
    )
    params = [Param(k, v) for k, v in parent["params"].items()]
    client.log_batch(run.info.run_id, params=params)
    for name, text in parent.get("artifacts", {}).items():
        client.log_text(run.info.run_id, text, name)
    client.set_terminated(run.info.run_id, status="FINISHED")
    store.parents[key] = run.info.run_id
    return str(run.info.run_id)


def _unit(
    client: MlflowClient, experiment_id: str, parent_id: str, record: dict[str, Any], origin: str
) -> None:
    # Held by this process while it is written, so a driver starting now leaves it alone.
    held = ownership.Owner.current().tags(ownership.lease_s())
    run = client.create_run(
        experiment_id,
        start_time=record["start_time"],
        tags={**record["tags"], **held, "mlflow.parentRunId": parent_id, IMPORTED: origin},
        run_name=record["run_name"],
    )
    run_id = run.info.run_id
    metrics = [Metric(k, float(v), 0, 0) for k, v in record["metrics"].items()]
    params = [Param(k, v) for k, v in record["params"].items()]
    client.log_batch(run_id, metrics=metrics, params=params)
    for name, text in record["artifacts"].items():
        client.log_text(run_id, text, name)
    # The status is the last write, as for a unit recorded live.
    client.set_terminated(run_id, status=record["status"], end_time=record["end_time"])
