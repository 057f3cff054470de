"""Result bundles: entries run elsewhere, checked here without rerunning their models.

A bundle is the run-record format of the boards (`assay.publish.records`), in a folder
of its own: `BUNDLE/records/<scenario>/*.jsonl.gz`, a file per unit run with its
predictions, metrics and provenance (data sha, split sha, versions of the
libraries and of Assay), and `BUNDLE/records/SHA256SUMS` over them.

`verify_bundle` refuses a bundle, with one line, unless: every file matches
its sha256; each unit's data and split shas are our cache's; its predictions
cover exactly the rows of its test fold, with our targets; and every metric
recomputed from the predictions equals the one stated. Verified entries are
imported marked external (`assay.external`, the bundle's sha): they join every
board of their scenario, labelled `(external)`, and stay so in the records the
boards commit.
"""

from __future__ import annotations

import hashlib
import io
import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from assay.data.cache import DataCache
from assay.data.dataset import stable_hash
from assay.data.splits import Split
from assay.engine.tracking import EXTERNAL, TAG
from assay.errors import AssayError, reason
from assay.evaluation.protocols import predictions_from_columns
from assay.plugin import Catalog
from assay.publish.records import MANIFEST, RECORDS_DIR, add_records, read_records
from assay.publish.records import write_records as _write_records
from assay.spec import Size

METRIC_RTOL = 1e-9
"""Stated and recomputed metrics agree to float rounding: the predictions are stored at
full precision, so any larger gap is an edit."""


class BundleError(AssayError):
    """A result bundle is unreadable or does not match what it claims."""


@dataclass(frozen=True)
class Verified:
    records: list[dict[str, Any]]
    sha: str
    """sha256 of the bundle's manifest: names the bundle on the boards."""

    @property
    def entries(self) -> list[tuple[str, str]]:
        """(scenario, model label) of every entry, in order."""
        seen = dict.fromkeys(
            (r["tags"][f"{TAG}scenario"], r["tags"][f"{TAG}model_label"]) for r in self.records
        )
        return list(seen)


def export_bundle(
    client: MlflowClient,
    catalog: Catalog,
    scenarios: Sequence[str],
    size: Size,
    models: Sequence[str],
    out: Path,
) -> int:
    """Write the finished units behind the boards of `scenarios` (only the entries labelled
    as in `models`, when given) as a bundle under `out`; returns how many units."""
    from assay.publish.leaderboard import build_board

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out} exists and is not an empty folder: choose a new one")
    written = 0
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        staging = Path(tmp)
        for ref in scenarios:
            spec = catalog.scenario(ref).spec
            board = build_board(client, spec, size)
            if board is None:
                raise BundleError(f"no tracked {size} runs of {spec.key} to export")
            runs = [r for r in board.unit_runs if r.info.status == "FINISHED"]
            if models:
                runs = [r for r in runs if r.data.tags[f"{TAG}model_label"] in models]
            if not runs:
                labels = sorted({r.data.tags[f"{TAG}model_label"] for r in board.unit_runs})
                raise BundleError(
                    f"{spec.key} has no finished {size} runs of {', '.join(models)} "
                    f"(tracked entries: {', '.join(labels)})"
                )
            _write_records(client, spec.id, runs, staging)
            written += len(runs)
        if out.exists():
            out.rmdir()
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging / RECORDS_DIR), str(out / RECORDS_DIR))
    return written


def _check_hashes(bundle: Path) -> str:
    """Every file listed in the manifest matches it, and none is unlisted; returns the
    manifest's own sha256."""
    root = bundle / RECORDS_DIR
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise BundleError(f"{bundle} is not a result bundle: {manifest} is missing")
    listed = set()
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        expected, _, name = line.partition("  ")
        listed.add(name)
        path = root / name
        if not path.is_file():
            raise BundleError(f"bundle: {name} is listed in {MANIFEST} but missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise BundleError(f"bundle: {name} does not match its sha256 in {MANIFEST}")
    for path in sorted(root.rglob("*.jsonl.gz")):
        if path.relative_to(root).as_posix() not in listed:
            raise BundleError(f"bundle: {path.relative_to(root)} is not listed in {MANIFEST}")
    return hashlib.sha256(manifest.read_bytes()).hexdigest()


def verify_bundle(catalog: Catalog, bundle: Path, cache: DataCache | None = None) -> Verified:
    """Check a bundle against our data, split and metrics; one line where it does not match."""
    sha = _check_hashes(bundle)
    records = list(read_records(bundle))
    if not records:
        raise BundleError(f"bundle {bundle} holds no entries")
    for record in records:
        _verify_record(catalog, record, cache)
    return Verified(records, sha)


def _verify_record(catalog: Catalog, record: dict[str, Any], cache: DataCache | None) -> None:
    from assay.engine.units import prepare

    tags = record["tags"]
    try:
        ref = f"{tags[f'{TAG}scenario']}@{tags[f'{TAG}scenario_version']}"
        size, unit, seed = tags[f"{TAG}size"], tags[f"{TAG}unit"], tags[f"{TAG}seed"]
        label = tags[f"{TAG}model_label"]
        data_sha, split_sha = tags[f"{TAG}data_sha"], tags[f"{TAG}split_sha"]
    except KeyError as exc:
        raise BundleError(f"bundle: a record lacks the tag {exc}") from None
    where = f"bundle entry '{label}' on {ref} ({size}, unit {unit}, seed {seed})"
    if record.get("status") != "FINISHED":
        raise BundleError(f"{where}: only finished units can be submitted")
    prepared = prepare(catalog, ref, size, cache)
    ours = prepared.dataset.metadata.sha256
    if data_sha != ours:
        raise BundleError(
            f"{where}: data sha {data_sha[:16]} is not our cache's {ours[:16]} (other data)"
        )
    if split_sha != prepared.plan.split_sha:
        raise BundleError(
            f"{where}: split sha {split_sha[:16]} is not ours {prepared.plan.split_sha[:16]} "
            "(a different split)"
        )
    split = prepared.plan.payload
    if not isinstance(split, Split):
        raise BundleError(f"{where}: only scenarios with test folds can be verified")
    fold = next((f for f in split.folds if f.name == unit), None)
    if fold is None:
        raise BundleError(f"{where}: our split has no fold named {unit}")
    text = record.get("artifacts", {}).get("predictions.csv")
    if not text:
        raise BundleError(f"{where}: no predictions to recompute the metrics from")
    try:
        rows, y_stated, predictions = predictions_from_columns(pd.read_csv(io.StringIO(text)))
    except (KeyError, ValueError) as exc:
        raise BundleError(f"{where}: predictions cannot be read ({reason(exc)})") from None
    test_rows = set(fold.test.tolist())
    stray = [int(r) for r in rows if int(r) not in test_rows]
    if stray:
        raise BundleError(
            f"{where}: a prediction for row {stray[0]}, which is not in test fold {unit}"
        )
    if len(rows) != len(test_rows) or len(set(rows.tolist())) != len(rows):
        raise BundleError(
            f"{where}: {len(rows)} predictions for the {len(test_rows)} rows of test fold {unit}"
        )
    targets = prepared.dataset.targets
    assert targets is not None  # a fold split needs targets
    y_true = np.asarray(targets)[rows]
    if not _same(y_stated, y_true):
        raise BundleError(f"{where}: the true values in its predictions are not our data's")
    stated = record.get("metrics", {})
    for metric in prepared.registered.spec.metrics:
        if metric.name not in stated:
            raise BundleError(f"{where}: metric {metric.name} is not stated")
        recomputed = catalog.metrics.get(metric.name)(y_true, predictions)
        value = float(stated[metric.name])
        if not math.isclose(value, recomputed, rel_tol=METRIC_RTOL, abs_tol=1e-12):
            raise BundleError(
                f"{where}: {metric.name} is stated as {value:.6g} but its predictions give "
                f"{recomputed:.6g}"
            )


def _same(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fiub" and b.dtype.kind in "fiub":
        return bool(np.allclose(a.astype(float), b.astype(float), rtol=1e-12, atol=0))
    return bool(np.array_equal(a.astype(str), b.astype(str)))


def import_bundle(client: MlflowClient, verified: Verified) -> int:
    """Add the verified entries to the store, marked external; returns how many units were
    new. Their parent key is the bundle's own, so they never merge into our runs."""
    mark = verified.sha[:16]
    marked = []
    for record in verified.records:
        tags = dict(record["tags"])
        external = tags.get(EXTERNAL, mark)  # an entry re-exported keeps its first mark
        key = stable_hash({"external": external, "parent_key": tags.get(f"{TAG}parent_key", "")})
        tags |= {EXTERNAL: external, f"{TAG}parent_key": key[:32]}
        parent = dict(record["parent"] or {"tags": {}, "params": {}, "run_name": ""})
        parent["tags"] = {**parent.get("tags", {}), **tags_for_parent(tags)}
        parent.setdefault("start_time", None)
        marked.append({**record, "tags": tags, "parent": parent})
    return add_records(client, marked, origin="bundle")


def tags_for_parent(unit_tags: dict[str, str]) -> dict[str, str]:
    return {k: unit_tags[k] for k in (EXTERNAL, f"{TAG}parent_key")}
