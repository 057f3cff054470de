"""The statistics of a board beyond `assay.evaluation.stats`: the paired bootstrap over
the test rows of a fixed test set (its resamples kept on disk), discovery curves with
their enhancement and acceleration factors, and scores normalised between controls.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from mlflow.tracking import MlflowClient

from assay.data.dataset import stable_hash
from assay.evaluation.metrics import Metric
from assay.evaluation.predictions import Predictions
from assay.evaluation.stats import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    Band,
    Resamples,
    UnitKey,
    acceleration_factor,
    bootstrap_values,
    discovery_band,
    enhancement_factor,
)
from assay.publish.board import Entry
from assay.publish.query import StoredPredictions, trace_curve, unit_key
from assay.spec import ScenarioSpec


def bootstrap_entries(
    client: MlflowClient, rows_by_entry: Mapping[str, list[Any]], metrics: Sequence[Metric]
) -> tuple[dict[str, dict[str, np.ndarray[Any, Any]]] | None, int]:
    """entry -> metric -> the metric on every resample (averaged over seeds), or None when
    some entry lacks predictions; and the number of test rows.

    Each entry's resampled values are kept under ASSAY_HOME/boards, keyed by its runs and
    the metric's code, so rebuilding an unchanged board does not bootstrap it again."""
    finished = {
        name: [r for r in runs if r.info.status == "FINISHED"]
        for name, runs in rows_by_entry.items()
    }
    if not all(finished.values()):
        return None, 0
    cache = _BootstrapCache()
    keys = {name: {m.name: cache.key(runs, m) for m in metrics} for name, runs in finished.items()}
    hits = {
        name: {m: cache.get(key) for m, key in by_metric.items()}
        for name, by_metric in keys.items()
    }
    if all(hit is not None for by_metric in hits.values() for hit in by_metric.values()):
        n_rows = {hit[1] for by_metric in hits.values() for hit in by_metric.values() if hit}
        if len(n_rows) == 1:
            return {
                name: {m: hit[0] for m, hit in by_metric.items() if hit}
                for name, by_metric in hits.items()
            }, n_rows.pop()
    store = StoredPredictions(client)
    seeds: dict[str, list[Predictions]] = {}
    for name, runs in finished.items():
        loaded = [store.load(r) for r in runs]
        if any(p is None for p in loaded):
            return None, 0
        seeds[name] = [p for p in loaded if p is not None]
    if store.y_true is None:
        return None, 0
    y_true = store.y_true
    resamples = Resamples(len(y_true))
    out: dict[str, dict[str, np.ndarray[Any, Any]]] = {}
    for name, predictions in seeds.items():
        out[name] = {}
        for metric in metrics:
            hit = hits[name][metric.name]
            if hit is not None and hit[1] == len(y_true):
                out[name][metric.name] = hit[0]
                continue
            score = partial(_seed_mean_score, metric, y_true, predictions)
            out[name][metric.name] = bootstrap_values(score, resamples)
            cache.put(keys[name][metric.name], out[name][metric.name], len(y_true))
    return out, len(y_true)


class _BootstrapCache:
    """Resampled metric values on disk, one small JSON file per (entry's runs, metric)."""

    def __init__(self) -> None:
        from assay.data.cache import assay_home

        self.root = assay_home() / "boards" / "bootstrap"

    @staticmethod
    def key(runs: Sequence[Any], metric: Metric) -> str:
        module = getattr(metric.fn, "__module__", None) or ""
        package = sys.modules.get(module.split(".")[0])
        return stable_hash(
            {
                "runs": sorted(r.info.run_id for r in runs),
                "metric": metric.name,
                "code": [module, getattr(package, "__version__", "")],
                "resamples": [BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED],
            }
        )

    def get(self, key: str) -> tuple[np.ndarray[Any, Any], int] | None:
        path = self.root / f"{key[:40]}.json"
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            return np.asarray(saved["values"], dtype=np.float64), int(saved["n_rows"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, values: np.ndarray[Any, Any], n_rows: int) -> None:
        path = self.root / f"{key[:40]}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"values": values.tolist(), "n_rows": n_rows}))
            tmp.replace(path)
        except OSError:  # a read-only home only costs the next build its speed
            pass


def _seed_mean_score(
    metric: Metric,
    y_true: np.ndarray[Any, Any],
    seeds: Sequence[Predictions],
    rows: np.ndarray[Any, Any],
) -> float:
    """The metric on test rows `rows`, averaged over the seeds' predictions."""
    return float(np.mean([metric(y_true[rows], _take(p, rows)) for p in seeds]))


def _take(predictions: Predictions, rows: np.ndarray[Any, Any]) -> Predictions:
    return Predictions(
        values=np.asarray(predictions.values)[rows],
        probabilities=None
        if predictions.probabilities is None
        else np.asarray(predictions.probabilities)[rows],
        uncertainty=None
        if predictions.uncertainty is None
        else np.asarray(predictions.uncertainty)[rows],
    )


def discovery_curves(
    client: MlflowClient, by_row: Mapping[str, list[Any]], entries: list[Entry], negative: str
) -> tuple[str, dict[str, Band]]:
    """Discovery bands per entry, and each entry's EF and AF against the negative control."""
    traces: dict[str, dict[UnitKey, np.ndarray[Any, Any]]] = {}
    names: set[str] = set()
    for row, group in by_row.items():
        for run in group:
            if run.info.status != "FINISHED":
                continue
            found = trace_curve(client, run)
            if found is not None:
                names.add(found[0])
                traces.setdefault(row, {})[unit_key(run)] = found[1]
    if not traces or len(names) != 1:
        return "", {}
    length = min(len(c) for by_seed in traces.values() for c in by_seed.values())
    traces = {r: {k: c[:length] for k, c in t.items()} for r, t in traces.items()}
    curves = {row: discovery_band(by_seed) for row, by_seed in sorted(traces.items())}
    reference = traces.get(negative)
    if reference is not None:
        for entry in entries:
            if entry.model in traces:
                entry.discovery = {
                    "ef": enhancement_factor(traces[entry.model], reference, length),
                    "af": acceleration_factor(traces[entry.model], reference, length),
                }
    return names.pop(), curves


def normalise(entries: list[Entry], spec: ScenarioSpec, primary: str) -> None:
    """Negative control -> 0, positive control (or the best complete model) -> 1."""
    means = {e.model: e.metrics[primary].mean for e in entries if primary in e.metrics}
    negative = means.get(spec.controls.negative)
    ranked = [e for e in entries if e.rank is not None]
    if negative is None or not ranked:
        return
    top = means.get(spec.controls.positive or "", ranked[0].metrics[primary].mean)
    if top == negative:
        return
    for entry in entries:
        if primary in entry.metrics:
            entry.normalised = (entry.metrics[primary].mean - negative) / (top - negative)


def unit_key_of(text: str) -> UnitKey:
    unit, _, seed = text.rpartition("/s")
    return unit, int(seed)
