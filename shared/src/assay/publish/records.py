"""Run records: the compact, committed copy of the runs behind each leaderboard.

An MLflow store lives on one machine; a board must be rebuildable (and
re-analysable with new statistics) from a fresh clone, and a long suite must
survive the loss of its machine. A records folder (`leaderboards/records`, or
the folder given to `assay suite run --records`) holds one gzip JSON-lines file
per unit run, `<scenario>/<unit>-<content>.jsonl.gz`: its tags (run key
included), params, metrics, status, times, its parent's tags and params, and its
artifacts (predictions, traceback). `SHA256SUMS` pins every file.

Every write keeps the folder verifiable at any instant, so a kill at any moment
leaves one that `sha256sum -c` (and `read_records`) accepts: a unit's file is
written whole under a name no listed file has (its name carries its content's
hash) before the manifest lists it, and the manifest is replaced atomically;
files leave the manifest before they are deleted. Writers take an exclusive lock
on the folder. Folders written before this layout (one `<scenario>.jsonl.gz`
per scenario) are read the same way and replaced on the next board build.

Importing recreates, in any store, the runs it lacks (matched on parent key and
run key), so `assay leaderboard build` gives the same numbers anywhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from assay.data.dataset import sha256_file
from assay.engine import ownership
from assay.engine.store import read_artifact
from assay.engine.tracking import DATASET_ARTIFACT, TAG, dataset_input, log_dataset_input
from assay.errors import DataError

RECORDS_DIR = "records"
MANIFEST = "SHA256SUMS"
SUFFIX = ".jsonl.gz"
ARTIFACTS = ("predictions.csv", "error.txt")
PARENT_ARTIFACTS = (DATASET_ARTIFACT,)
"""The data card: provenance, licence and notes, shown on the boards."""
IMPORTED = f"{TAG}imported"
PARENT_SUMMARY_TAGS = frozenset({f"{TAG}units", f"{TAG}failures"})
"""Counts the runner rewrites on a parent as its units finish: a record written
mid-suite would hold an early count, so no record keeps them."""

UNIT_FILE = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{12}\.jsonl\.gz$")
"""A per-unit file's name: its unit's hash, then its content's."""

UnitId = tuple[str, str]
"""(parent key, run key): one unit of one board entry."""


def _recorded_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags worth keeping: not MLflow's own, nor the mark of an earlier import, nor who
    held the run in its store (so a store rebuilt from records writes the same records
    again), nor a parent's running counts."""
    return {
        k: v
        for k, v in sorted(tags.items())
        if not k.startswith("mlflow.")
        and k != IMPORTED
        and k not in ownership.CLAIM_TAGS
        and k not in PARENT_SUMMARY_TAGS
    }


def run_record(client: MlflowClient, run: Any, parents: dict[str, Any]) -> dict[str, Any]:
    """The record of one unit run; `parents` caches parent runs by id between calls."""
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


def unit_id(record: dict[str, Any]) -> UnitId:
    tags = record["tags"]
    return tags.get(f"{TAG}parent_key", ""), tags[f"{TAG}run_key"]


def _unit_stem(unit: UnitId) -> str:
    return hashlib.sha256("\n".join(unit).encode()).hexdigest()[:16]


def _encode(record: dict[str, Any]) -> bytes:
    """Deterministic bytes (sorted keys, no timestamp in the gzip header), so a rebuild
    writes the same file under the same name."""
    return gzip.compress((json.dumps(record, sort_keys=True) + "\n").encode(), mtime=0)


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _replace_durably(tmp: Path, path: Path) -> None:
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class RecordsFolder:
    """A folder of run records, written unit by unit and verifiable at every instant."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / MANIFEST

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (two suites may share a folder); the lock is the
        folder's own, so nothing is left behind to commit."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.root, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)  # closing releases the lock

    def listed(self) -> dict[str, str]:
        """The manifest: relative path -> sha256 (empty for a new folder)."""
        if not self.manifest.is_file():
            return {}
        entries: dict[str, str] = {}
        for line in self.manifest.read_text(encoding="utf-8").splitlines():
            if line.strip():
                expected, _, name = line.partition("  ")
                entries[name] = expected
        return entries

    def _commit(self, entries: dict[str, str]) -> None:
        text = "".join(f"{sha}  {name}\n" for name, sha in sorted(entries.items()))
        tmp = self.root / f".{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        _replace_durably(tmp, self.manifest)

    def _write(self, scenario: str, record: dict[str, Any]) -> tuple[str, str]:
        """Write one record's file (if not already there); its manifest path and sha."""
        data = _encode(record)
        sha = _sha256_bytes(data)
        name = f"{scenario}/{_unit_stem(unit_id(record))}-{sha[:12]}{SUFFIX}"
        path = self.root / name
        if not (path.is_file() and sha256_file(path) == sha):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            _replace_durably(tmp, path)
        return name, sha

    def add(self, records: Iterable[dict[str, Any]]) -> int:
        """List these unit records (each replacing an earlier record of its unit);
        returns how many files changed."""
        with self._locked():
            before = self.listed()
            entries = dict(before)
            changed = 0
            for record in records:
                scenario = record["tags"][f"{TAG}scenario"]
                changed += self._expand_older(scenario, entries)
                name, sha = self._write(scenario, record)
                if name in entries:
                    continue
                for earlier in [n for n in entries if _belongs(n, scenario)]:
                    if _stem(earlier) == _stem(name):  # the unit rerun (--retry-failed)
                        del entries[earlier]
                entries[name] = sha
                changed += 1
            if changed:
                self._commit(entries)
            self._remove_unlisted(entries, dropped=set(before) - set(entries))
            return changed

    def _expand_older(self, scenario: str, entries: dict[str, str]) -> int:
        """A scenario still in one older one-file record is split into unit files first,
        so a new record of a unit replaces the old one instead of standing beside it."""
        older = f"{scenario}{SUFFIX}"
        if older not in entries:
            return 0
        for record in _verified_lines(self.root / older, entries[older], self.manifest):
            if record.get("parent"):  # as a record written now would hold it
                record["parent"]["tags"] = _recorded_tags(record["parent"]["tags"])
            name, sha = self._write(scenario, record)
            entries[name] = sha
        del entries[older]
        return 1

    def replace_scenario(self, scenario: str, records: Iterable[dict[str, Any]]) -> list[Path]:
        """Make the scenario's records exactly these (a board build); returns its files."""
        with self._locked():
            entries = self.listed()
            kept = {n: s for n, s in entries.items() if not _belongs(n, scenario)}
            mine = dict(self._write(scenario, record) for record in records)
            new = {**kept, **mine}
            if new != entries:
                self._commit(new)
            self._remove_unlisted(new, dropped=set(entries) - set(new))
            return [self.root / name for name in sorted(mine)]

    def _remove_unlisted(self, entries: dict[str, str], dropped: set[str]) -> None:
        """Files the manifest just dropped, and temporary files a kill left. A file the
        manifest never listed is left alone: reading ignores it, and it may be someone's."""
        for name in dropped:
            (self.root / name).unlink(missing_ok=True)
        for path in self.root.rglob(".*.tmp"):
            path.unlink(missing_ok=True)

    def recorded_units(self) -> set[str]:
        """The unit hashes of the per-unit files listed (from their names alone)."""
        return {_stem(name) for name in self.listed() if _stem(name)}

    def read(self, scenarios: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every record (of these scenario ids), each file checked against the manifest
        first."""
        wanted = None if scenarios is None else set(scenarios)
        for name, expected in sorted(self.listed().items()):
            if wanted is None or any(_belongs(name, scenario) for scenario in wanted):
                yield from _verified_lines(self.root / name, expected, self.manifest)


def _verified_lines(path: Path, expected: str, manifest: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"run records: {path} is listed in {manifest} but missing")
    if sha256_file(path) != expected:
        raise DataError(
            f"run records: {path} does not match its sha256 in {manifest}; "
            "restore it with git checkout"
        )
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            return [json.loads(text) for text in lines]
    except (OSError, EOFError, json.JSONDecodeError) as exc:
        raise DataError(f"run records: {path} cannot be read ({exc})") from None


def _belongs(name: str, scenario: str) -> bool:
    """A file of this scenario: one of its unit files, or its older one-file record."""
    return name.startswith(f"{scenario}/") or name == f"{scenario}{SUFFIX}"


def _stem(name: str) -> str:
    """The unit part of a per-unit file's name ('' for an older one-file record)."""
    base = name.rsplit("/", 1)[-1]
    return base.split("-", 1)[0] if UNIT_FILE.match(base) else ""


def write_records(
    client: MlflowClient, scenario: str, runs: Iterable[Any], out_dir: Path
) -> list[Path]:
    """Make `out_dir/records` hold exactly these unit runs of the scenario."""
    parents: dict[str, Any] = {}
    records = [run_record(client, run, parents) for run in runs]
    return RecordsFolder(out_dir / RECORDS_DIR).replace_scenario(scenario, records)


def read_records(out_dir: Path) -> Iterator[dict[str, Any]]:
    """Every record under `out_dir/records`, each file checked against the manifest first."""
    return RecordsFolder(out_dir / RECORDS_DIR).read()


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
    _log_dataset(client, run.info.run_id, record)
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
    _log_dataset(client, run_id, record, context=record["tags"].get(f"{TAG}unit", ""))
    # The status is the last write, as for a unit recorded live.
    client.set_terminated(run_id, status=record["status"], end_time=record["end_time"])


def _log_dataset(
    client: MlflowClient, run_id: str, record: dict[str, Any], context: str = ""
) -> None:
    """The recorded run's data as its MLflow dataset input, as a live run logs it, from
    the parent's data card and the data sha (nothing for a record without them)."""
    card = (record["parent"] or {}).get("artifacts", {}).get(DATASET_ARTIFACT)
    data_sha = record["tags"].get(f"{TAG}data_sha")
    if card is not None and data_sha:
        log_dataset_input(client, run_id, dataset_input(json.loads(card), data_sha, context))


class LiveRecords:
    """A suite's records folder, kept up to date as units finish (`--records DIR`).

    At the start, the folder's records are imported into the store, so a suite
    resumed on a new machine (an empty store) runs only the units still missing;
    each unit's record is then written as soon as the runner has recorded it."""

    def __init__(self, client: MlflowClient, root: Path) -> None:
        self.client = client
        self.folder = RecordsFolder(root)
        self._parents: dict[str, Any] = {}

    def import_into_store(self, scenarios: Iterable[str]) -> int:
        """Recreate the records of these scenario ids that the store lacks."""
        return add_records(self.client, self.folder.read(scenarios))

    def record(self, run_ids: Iterable[str]) -> int:
        runs = [self.client.get_run(run_id) for run_id in run_ids]
        return self.folder.add(run_record(self.client, run, self._parents) for run in runs)

    def catch_up(self, experiments: dict[str, str], units: set[UnitId]) -> int:
        """Write the given units the store holds but the folder lacks (units recorded
        before `--records` was given, and copies of reused units); `experiments` maps
        scenario ids to experiment ids."""
        have = self.folder.recorded_units()
        missing = []
        for experiment_id in experiments.values():
            for run in _finished_units(self.client, experiment_id):
                tags = run.data.tags
                unit = (tags.get(f"{TAG}parent_key", ""), tags[f"{TAG}run_key"])
                if unit in units and _unit_stem(unit) not in have:
                    missing.append(run)
                    have.add(_unit_stem(unit))
        if not missing:
            return 0
        return self.folder.add(run_record(self.client, run, self._parents) for run in missing)


def _finished_units(client: MlflowClient, experiment_id: str) -> Iterator[Any]:
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG}kind` = 'unit'",
            max_results=1000,
            page_token=token,
        )
        for run in page:
            if run.info.status in ("FINISHED", "FAILED") and f"{TAG}run_key" in run.data.tags:
                yield run
        token = page.token
        if not token:
            return
