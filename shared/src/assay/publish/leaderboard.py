"""Leaderboards, built from MLflow runs only (never typed by hand).

Per scenario: mean +- std, a 95 % interval and ranks with ties, all from
`assay.evaluation.stats` (the corrected resampled t-test over folds, or a paired
bootstrap over the test examples of a fixed test set), the score normalised
between the negative control (0) and the positive control or the best model
(1) as Open Problems does, fit time and peak memory, and the published
references beside ours. An entry with failed units is listed below the
complete ones, unranked, with its failure count and first error.
Written as Markdown + JSON + PNG per scenario and an index README.md.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from assay.data.dataset import stable_hash
from assay.engine.store import read_artifact
from assay.engine.tracking import DATASET_ARTIFACT, EXTERNAL, TAG, partial_folds
from assay.engine.units import parent_key
from assay.evaluation.metrics import BOUND_INFO, Metric, combined_bound
from assay.evaluation.predictions import Predictions
from assay.evaluation.protocols import predictions_from_columns
from assay.evaluation.stats import (
    BOOTSTRAP_METHOD,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    CV_METHOD,
    NO_TEST,
    SEEDS_METHOD,
    Band,
    MetricSummary,
    Ranked,
    Resamples,
    UnitKey,
    acceleration_factor,
    bootstrap_differ,
    bootstrap_summary,
    bootstrap_values,
    clipped,
    cv_differ,
    cv_summary,
    discovery_band,
    enhancement_factor,
    fmt_bounded,
    fmt_mean_std,
    interval_text,
    rank_with_ties,
    seed_summary,
    seeds_differ,
)
from assay.loop.campaign import DESIGN_SEEDS
from assay.publish.results_text import board_notes, write_results
from assay.spec import ModelEntry, ScenarioSpec, Size

FINISHED_STATES = ("FINISHED", "FAILED")
QUICK_NOTE = (
    "Quick size is a smoke test of the harness on little data, not a ranking: "
    "see the standard boards for results."
)
"""Abandoned runs (KILLED) are neither results nor failures."""
BOUND_NOTE = (
    "≥ marks a lower bound (≤ an upper one): a value capped where the test set cannot "
    "resolve it, such as 1/eps_B when no background event passes."
)


def has_bounds(board: Board) -> bool:
    return any(s.bound for e in board.entries for s in e.metrics.values())


@dataclass
class Entry:
    model: str
    rank: int | None
    """None for an entry with failed units: it is listed, never ranked."""
    metrics: dict[str, MetricSummary]
    normalised: float | None
    fit_seconds: float
    peak_memory_mb: float
    units: int
    failures: int
    errors: list[str] = field(default_factory=list)
    """The first error line of each distinct failure (first three)."""
    failed_run: str = ""
    """Run id of one failed unit: its `error.txt` artifact holds the traceback."""
    values: dict[str, dict[str, float]] = field(default_factory=dict)
    """metric -> "unit/sSEED" -> value of every finished unit."""
    discovery: dict[str, float] = field(default_factory=dict)
    """Closed loops: Liang et al.'s enhancement (`ef`) and acceleration (`af`) factors
    against the negative control (random), at the budget, on the same seeds."""
    external: str = ""
    """For an entry imported from a verified result bundle: the bundle's sha256 (short)."""
    partial: str = ""
    """`folds 0,2 of 5` for an entry that holds only the units a `--folds` run chose:
    listed apart, never ranked beside entries that ran every unit."""

    @property
    def complete(self) -> bool:
        return self.failures == 0 and not self.partial


@dataclass
class Board:
    scenario: str
    version: str
    title: str
    size: str
    primary: str
    direction: str
    data_sha: str
    split_shas: list[str]
    entries: list[Entry]
    references: list[dict[str, Any]]
    negative_control: str
    method: str
    """How intervals and ties were decided (named on every board)."""
    description: str = ""
    directions: dict[str, str] = field(default_factory=dict)
    """metric -> maximize or minimize, for every metric of the scenario."""
    dataset: dict[str, Any] = field(default_factory=dict)
    """The data card recorded with the runs: name, version, provenance, licence, notes."""
    environment: dict[str, str] = field(default_factory=dict)
    """Versions and commit of the newest run's driver (assay, key libraries, plugin)."""
    task: str = ""
    unit_runs: list[Any] = field(default_factory=list)
    """The MLflow runs behind the board (written as run records, not into the JSON)."""
    curves: dict[str, Band] = field(default_factory=dict)
    """Closed loops: each entry's discovery curve over seeds (median, interquartile band)."""
    curve_metric: str = ""
    """What the curves plot: `top_recall` for a fixed pool, else `best_so_far`."""
    pending: list[str] = field(default_factory=list)
    """The suite's entries with no recorded unit yet (a suite still running, or resumed
    over several sittings): named on the board, which is incomplete without them."""
    data_file: str = ""
    """A scenario fed by the user's files: the name of the data its runs read. Each data
    file (by sha) gets a board of its own; empty for every other scenario."""
    variant: str = ""
    """Set on the boards of a user-file scenario's earlier data files (the newest keeps
    the scenario's own page): `<file>-<sha>`, which names their page."""

    @property
    def slug(self) -> str:
        return f"{self.scenario}--{self.variant}" if self.variant else self.scenario

    @property
    def data_label(self) -> str:
        """For a board of user files, which data it was run on; else empty."""
        return f"{self.data_file}, sha256 {self.data_sha[:8]}" if self.data_file else ""

    @property
    def name(self) -> str:
        """The scenario, and for a board of user files, which data it was run on."""
        return f"{self.scenario} ({self.data_label})" if self.data_file else self.scenario

    @property
    def smoke_test(self) -> bool:
        """Quick size of a scenario whose sizes differ in their data; a user's files are
        the same data at both sizes."""
        return self.size == "quick" and not self.data_file

    @property
    def best(self) -> list[Entry]:
        """Every entry ranked first (several when they tie)."""
        return [e for e in self.entries if e.rank == 1]

    def to_json(self) -> dict[str, Any]:
        return asdict(replace(self, unit_runs=[]), dict_factory=_without_runs)


_ONLY_WHEN_SET = frozenset({"data_file", "variant", "partial", "pending", "bound"})
"""Fields written to the JSON only when set (boards of user files, `--folds` entries), so
every other board keeps the bytes it had before they existed."""


def _without_runs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in items if k != "unit_runs" and (v or k not in _ONLY_WHEN_SET)}


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


def _newest_per_unit(runs: list[Any]) -> list[Any]:
    """One run per (entry, unit, seed): the newest, so a unit recomputed under a new run
    key (a new plugin version, say) replaces its old result instead of doubling it."""
    newest: dict[tuple[str, str, str], Any] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time):
        tags = run.data.tags
        newest[(tags.get(f"{TAG}parent_key", ""), tags[f"{TAG}unit"], tags[f"{TAG}seed"])] = run
    return list(newest.values())


def _unit_key(run: Any) -> UnitKey:
    return run.data.tags[f"{TAG}unit"], int(run.data.tags[f"{TAG}seed"])


def _test_train_ratio(runs: Sequence[Any]) -> float:
    """n_test / n_train of the folds, for the variance correction."""
    ratios = []
    for run in runs:
        tags = run.data.tags
        n_train, n_test = tags.get(f"{TAG}info.n_train"), tags.get(f"{TAG}info.n_test")
        if n_train and n_test and int(n_train) > 0:
            ratios.append(int(n_test) / int(n_train))
    return float(np.mean(ratios)) if ratios else 0.25  # 5-fold when the sizes are unknown


def _fixed_test_set(runs: Sequence[Any]) -> bool:
    """True when every unit scored the same test rows (one unit, seeds only)."""
    shas = {r.data.tags.get(f"{TAG}info.test_sha") for r in runs}
    if None not in shas:
        return len(shas) == 1
    return len({r.data.tags[f"{TAG}unit"] for r in runs}) == 1


class _Predictions:
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


def _bootstrap(
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
    store = _Predictions(client)
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


def build_boards(
    client: MlflowClient,
    spec: ScenarioSpec,
    size: Size,
    models: Sequence[ModelEntry] | None = None,
    metrics: Mapping[str, Metric] | None = None,
) -> list[Board]:
    """The leaderboards of one scenario at one size: one board, on the newest data; or,
    once the scenario has run on a user's files (`--data`: units tagged `user_data`),
    one board per data file it was run on (another file, another target), each named by
    the file and its sha, newest first. The newest keeps the scenario's page; earlier
    ones get pages of their own."""
    runs = _selected_runs(client, spec, size, models)
    if not any(f"{TAG}user_data" in r.data.tags for r in runs):
        board = build_board(client, spec, size, models, metrics)
        return [] if board is None else [board]
    newest_first: dict[str, None] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time, reverse=True):
        newest_first.setdefault(run.data.tags[f"{TAG}data_sha"], None)
    boards = []
    for i, sha in enumerate(newest_first):
        board = build_board(client, spec, size, models, metrics, data_sha=sha)
        if board is None:
            continue
        named = {r.data.tags.get(f"{TAG}user_data", "") for r in board.unit_runs}
        board.data_file = max(named)  # "" for runs on the scenario's own data
        if i:
            board.variant = f"{_safe_name(board.data_file or 'scenario-data')}-{sha[:8]}"
        boards.append(board)
    return boards


def _safe_name(text: str) -> str:
    """A file name's characters kept where they are safe in a path and a URL (no dots:
    the page's suffix follows)."""
    return "".join(c if c.isalnum() or c in "-" else "_" for c in text)[:60] or "data"


def _selected_runs(
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


def build_board(
    client: MlflowClient,
    spec: ScenarioSpec,
    size: Size,
    models: Sequence[ModelEntry] | None = None,
    metrics: Mapping[str, Metric] | None = None,
    *,
    data_sha: str | None = None,
) -> Board | None:
    """The leaderboard of one scenario at one size, or None when it has no runs.

    With `models` (a suite's entries) only their runs count: a model's label
    alone is not enough, since `assay run -m hep.cut -p ...` tracks other
    parameters under the same label. Without, every tracked entry gets a row.
    `metrics` (the catalog's) lets a fixed-test-set board bootstrap every metric
    from the stored predictions; without them it claims no interval. `data_sha` picks
    the data (default: the newest run's; runs on other data are not comparable)."""
    runs = _selected_runs(client, spec, size, models)
    if data_sha is not None:
        runs = [r for r in runs if r.data.tags[f"{TAG}data_sha"] == data_sha]
    if not runs:
        return None
    newest = max(runs, key=lambda r: r.info.start_time)
    data_sha = newest.data.tags[f"{TAG}data_sha"]
    runs = [r for r in runs if r.data.tags[f"{TAG}data_sha"] == data_sha]
    runs = _newest_per_unit(runs)
    by_row = _rows(client, runs, describe_unlabelled=models is None)
    metric_names = [m.name for m in spec.metrics]
    finished = [r for r in runs if r.info.status == "FINISHED"]
    by_seeds = bool(finished) and all(
        r.data.tags.get(f"{TAG}info.design") == DESIGN_SEEDS for r in finished
    )
    fixed = _fixed_test_set(finished) if finished and not by_seeds else False
    resampled, n_test = None, 0
    if fixed and metrics is not None and all(n in metrics for n in metric_names):
        ok_rows = {
            name: group
            for name, group in by_row.items()
            if any(r.info.status == "FINISHED" for r in group)
        }
        resampled, n_test = _bootstrap(client, ok_rows, [metrics[n] for n in metric_names])
    ratio = _test_train_ratio(finished)
    entries = []
    for name, group in by_row.items():
        ok = [r for r in group if r.info.status == "FINISHED"]
        failed = [r for r in group if r.info.status != "FINISHED"]
        values: dict[str, dict[UnitKey, float]] = {m: {} for m in metric_names}
        for run in ok:
            for metric in metric_names:
                if metric in run.data.metrics:
                    values[metric][_unit_key(run)] = run.data.metrics[metric]
        summaries: dict[str, MetricSummary] = {}
        for metric, by_unit in values.items():
            if not by_unit:
                continue
            if by_seeds:
                summaries[metric] = seed_summary(by_unit)
            elif fixed:
                raw = np.array(list(by_unit.values()), dtype=float)
                point = float(raw.mean())
                seed_std = float(raw.std(ddof=1)) if raw.size > 1 else float("nan")
                if resampled is not None and name in resampled:
                    summaries[metric] = bootstrap_summary(
                        point, resampled[name][metric], n_test, seed_std
                    )
                else:
                    summaries[metric] = MetricSummary(point, seed_std, None, raw.size, NO_TEST)
            else:
                summaries[metric] = cv_summary(by_unit, ratio)
            side = combined_bound(r.data.tags.get(f"{TAG}info.{BOUND_INFO}{metric}") for r in ok)
            if side:
                summaries[metric] = replace(summaries[metric], bound=side)
        errors = list(dict.fromkeys(r.data.tags.get(f"{TAG}error", "?") for r in failed))
        entries.append(
            Entry(
                model=name,
                rank=None,
                metrics=summaries,
                normalised=None,
                fit_seconds=_mean(ok, "fit_seconds"),
                peak_memory_mb=_mean(ok, "peak_memory_mb"),
                units=len(group),
                failures=len(failed),
                errors=[e.splitlines()[0] if e else "?" for e in errors][:3],
                failed_run=failed[0].info.run_id if failed else "",
                external=group[0].data.tags.get(EXTERNAL, ""),
                partial=partial_folds([r.data.tags for r in group]),
                values={
                    m: {f"{u}/s{s}": v for (u, s), v in sorted(by.items())}
                    for m, by in values.items()
                },
            )
        )
    primary = spec.primary_metric
    maximize = primary.direction == "maximize"
    complete = [e for e in entries if e.complete and primary.name in e.metrics]
    by_name = {e.model: e for e in complete}

    def differ(a: str, b: str) -> bool:
        if by_seeds:
            va = {_key(k): v for k, v in by_name[a].values[primary.name].items()}
            vb = {_key(k): v for k, v in by_name[b].values[primary.name].items()}
            return seeds_differ(va, vb)
        if resampled is not None:
            return bootstrap_differ(resampled[a][primary.name], resampled[b][primary.name])
        if fixed:
            return False  # no predictions to test with: tie
        va = {_key(k): v for k, v in by_name[a].values[primary.name].items()}
        vb = {_key(k): v for k, v in by_name[b].values[primary.name].items()}
        return cv_differ(va, vb, ratio)

    ranks = rank_with_ties(
        [Ranked(e.model, e.metrics[primary.name].mean) for e in complete], maximize, differ
    )
    for entry in complete:
        entry.rank = ranks[entry.model]
    sign = -1.0 if maximize else 1.0
    ordered = sorted(complete, key=lambda e: (e.rank or 0, sign * e.metrics[primary.name].mean))
    incomplete = [e for e in entries if e not in complete]
    entries = ordered + sorted(incomplete, key=lambda e: e.model)
    if metrics:
        for entry in entries:
            entry.metrics = {
                name: clipped(summary, metrics[name].bounds if name in metrics else None)
                for name, summary in entry.metrics.items()
            }
    _normalise(entries, spec, primary.name)
    method = BOOTSTRAP_METHOD if resampled is not None else (NO_TEST if fixed else CV_METHOD)
    curves: dict[str, Band] = {}
    curve_metric = ""
    if by_seeds:
        method = SEEDS_METHOD
        curve_metric, curves = _discovery(client, by_row, entries, spec.controls.negative)
    return Board(
        scenario=spec.id,
        version=spec.version,
        title=spec.title,
        size=size,
        primary=primary.name,
        direction=primary.direction,
        data_sha=data_sha,
        split_shas=sorted({r.data.tags[f"{TAG}split_sha"] for r in runs}),
        entries=entries,
        references=[ref.model_dump() for ref in spec.references],
        negative_control=spec.controls.negative,
        method=method,
        description=" ".join(spec.description.split()),
        directions={m.name: m.direction for m in spec.metrics},
        dataset=_data_card(client, newest),
        environment=_environment(client, newest),
        task=spec.task,
        unit_runs=runs,
        curves=curves,
        curve_metric=curve_metric,
        pending=_pending(spec.key, size, data_sha, models, runs),
    )


def _pending(
    scenario: str, size: str, data_sha: str, models: Sequence[ModelEntry] | None, runs: list[Any]
) -> list[str]:
    if models is None:
        return []
    seen = {r.data.tags.get(f"{TAG}parent_key") for r in runs}
    return [m.display_name for m in models if parent_key(scenario, size, data_sha, m) not in seen]


def _trace_curve(client: MlflowClient, run: Any) -> tuple[str, np.ndarray[Any, Any]] | None:
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


def _discovery(
    client: MlflowClient, by_row: Mapping[str, list[Any]], entries: list[Entry], negative: str
) -> tuple[str, dict[str, Band]]:
    """Discovery bands per entry, and each entry's EF and AF against the negative control."""
    traces: dict[str, dict[UnitKey, np.ndarray[Any, Any]]] = {}
    names: set[str] = set()
    for row, group in by_row.items():
        for run in group:
            if run.info.status != "FINISHED":
                continue
            found = _trace_curve(client, run)
            if found is not None:
                names.add(found[0])
                traces.setdefault(row, {})[_unit_key(run)] = found[1]
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


def _parent_run(client: MlflowClient, unit_run: Any) -> Any | None:
    parent_id = unit_run.data.tags.get("mlflow.parentRunId")
    if not parent_id:
        return None
    try:
        return client.get_run(parent_id)
    except Exception:  # a parent deleted from the store: no card, the numbers still stand
        return None


def _data_card(client: MlflowClient, unit_run: Any) -> dict[str, Any]:
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


def _environment(client: MlflowClient, unit_run: Any) -> dict[str, str]:
    tags = dict(unit_run.data.tags)
    parent = _parent_run(client, unit_run)
    if parent is not None:
        tags = {**parent.data.tags, **tags}
    keep = {k.removeprefix(TAG): v for k, v in tags.items() if k.startswith(f"{TAG}version.")}
    if f"{TAG}git_commit" in tags:
        keep["git_commit"] = tags[f"{TAG}git_commit"]
    return dict(sorted(keep.items()))


def _key(text: str) -> UnitKey:
    unit, _, seed = text.rpartition("/s")
    return unit, int(seed)


def _rows(
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


def _mean(runs: list[Any], metric: str) -> float:
    values = [r.data.metrics[metric] for r in runs if metric in r.data.metrics]
    return float(np.mean(values)) if values else float("nan")


def _normalise(entries: list[Entry], spec: ScenarioSpec, primary: str) -> None:
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


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value + 0.0:.{digits}g}"  # + 0.0 turns -0 into 0


def mean_std(summary: MetricSummary | None) -> str:
    """`mean ± std`, or the mean alone where no spread was measured (never `± 0`);
    `≥ mean` where the mean is a lower bound."""
    if summary is None:
        return "-"
    return fmt_mean_std(summary.mean, summary.std, bound=summary.bound)


def mean_text(summary: MetricSummary, digits: int = 4) -> str:
    """The mean alone, `≥ 222` where it is a lower bound."""
    return fmt_bounded(_fmt(summary.mean, digits), summary.bound)


def rank_text(entry: Entry) -> str:
    return str(entry.rank) if entry.rank is not None else "-"


def board_markdown(board: Board) -> str:
    metric_names = list(dict.fromkeys(m for e in board.entries for m in e.metrics))
    others = [m for m in metric_names if m != board.primary]
    arrow = "higher is better" if board.direction == "maximize" else "lower is better"
    lines = [
        f"# {board.title}",
        "",
        f"`{board.scenario}@{board.version}`, size `{board.size}`. Primary metric: "
        f"**{board.primary}** ({arrow}). {board.description}",
        "",
        "| rank | model | "
        + f"{board.primary} mean ± std | 95 % CI | normalised | "
        + "".join(f"{m} [95 % CI] | " for m in others)
        + "fit s | peak MB | units (failed) |",
        "|" + "---|" * (8 + len(others)),
    ]
    for e in board.entries:
        p = e.metrics.get(board.primary)
        cells = [
            f"{mean_text(e.metrics[m])} {interval_text(e.metrics[m])}" if m in e.metrics else "-"
            for m in others
        ]
        lines.append(
            f"| {rank_text(e)} | {e.model} | {mean_std(p)} | "
            f"{interval_text(p) if p else '-'} | {_fmt(e.normalised, 3)} | "
            + "".join(f"{c} | " for c in cells)
            + f"{_fmt(e.fit_seconds, 3)} | {_fmt(e.peak_memory_mb, 3)} | {e.units} ({e.failures}) |"
        )
    if board.data_file:
        lines += [
            "",
            f"Data: `{board.data_file}` (sha256 `{board.data_sha[:16]}`), the user's own "
            "files, read alike at both sizes. Each data file this scenario was run on has "
            "its own board (see the index).",
        ]
    if board.smoke_test:
        lines += ["", QUICK_NOTE]
    if has_bounds(board):
        lines += ["", BOUND_NOTE]
    lines += [
        "",
        f"Intervals and ties: {board.method}; two entries share a rank unless the test "
        "separates them at the 95 % level, and `n/a` marks an interval the data cannot "
        f"support. Normalised: `{board.negative_control}` (negative control) = 0, best = 1. "
        "Peak MB is resident memory above the unit's start.",
    ]
    lines += [line for note in board_notes(board.to_json()) for line in ("", note)]
    if board.curves:
        lines += _discovery_markdown(board)
    partial = [e for e in board.entries if e.partial]
    if partial:
        lines += ["", "Entries run on some folds only (`--folds`) are listed unranked:"]
    for e in partial:
        lines.append(f"- `{e.model}`: {e.partial} ({e.units} units)")
    failed = [e for e in board.entries if e.failures]
    if failed:
        lines += ["", "Entries with failed units are listed unranked:"]
    for e in failed:
        where = (
            f" (traceback: artifact `error.txt` of run `{e.failed_run}`)" if e.failed_run else ""
        )
        lines.append(
            f"- `{e.model}`: {e.failures} of {e.units} units failed; first error: "
            f"{e.errors[0] if e.errors else '?'}{where}"
        )
    if board.references:
        lines += [
            "",
            "## Published references",
            "",
            "| model | metric | value | citation | how the data differ |",
            "|---|---|---|---|---|",
        ]
        for ref in board.references:
            lines.append(
                f"| {ref['model']} | {ref['metric']} | {ref['value']:g} | {ref['citation']} | {ref['note']} |"
            )
    lines += [
        "",
        f"Data sha256 `{board.data_sha[:16]}`, split sha256 "
        + ", ".join(f"`{s[:16]}`" for s in board.split_shas)
        + ". Generated by `assay leaderboard build` from MLflow runs.",
        "",
    ]
    return "\n".join(lines)


def _discovery_markdown(board: Board) -> list[str]:
    some = next(iter(board.curves.values()))
    budget = some.evaluations[-1]
    lines = [
        "",
        "## Discovery",
        "",
        f"![discovery curves]({Path(board.slug).name}-curves.png)",
        "",
        f"`{board.curve_metric}` after n evaluations: median and interquartile band over "
        f"{some.seeds} seeds per policy. EF and AF are the enhancement and acceleration "
        f"factors of Liang et al. (npj Comput. Mater. 7, 188, 2021) against "
        f"`{board.negative_control}` on the same seeds, from the mean curves: EF = the "
        f"policy's {board.curve_metric} after {budget} evaluations over random's; AF = the "
        f"evaluations random needs to reach its own final {board.curve_metric} over the "
        "evaluations the policy needs (`-`: never reached). In the table above, `fit s` is "
        "the seconds a policy spent choosing over a whole campaign.",
        "",
        f"| model | median at {budget} [IQR] | EF at {budget} | AF |",
        "|---|---|---|---|",
    ]
    for entry in board.entries:
        band = board.curves.get(entry.model)
        if band is None:
            continue
        lines.append(
            f"| {entry.model} | {_fmt(band.median[-1])} [{_fmt(band.q25[-1])}, "
            f"{_fmt(band.q75[-1])}] | {_fmt(entry.discovery.get('ef'), 3)} | "
            f"{_fmt(entry.discovery.get('af'), 3)} |"
        )
    return lines


def curves_plot(board: Board, path: Path) -> None:
    """Discovery curves: median line and interquartile band per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, band in board.curves.items():
        (line,) = ax.plot(band.evaluations, band.median, label=name, linewidth=1.5)
        ax.fill_between(band.evaluations, band.q25, band.q75, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("evaluations")
    ax.set_ylabel(f"{board.curve_metric} (median, IQR over seeds)")
    ax.set_title(f"{board.scenario}@{board.version} ({board.size})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


LOG_SCALE_HINTS = ("rejection", "error_rate")
"""Metrics their fields plot on a log axis: background rejection 1/eps_B, logical error
rates. Any other metric goes on a log axis when its positive values span two decades."""
MAX_PANELS = 3


def plotted_metrics(board: Board) -> list[str]:
    """The primary metric, then the metrics published references quote (rejection beside
    AUC on top tagging), at most three panels."""
    shown = {m for e in board.entries for m in e.metrics}
    quoted = [r["metric"] for r in board.references if r["metric"] in shown]
    return list(dict.fromkeys([board.primary, *quoted]))[:MAX_PANELS]


def _log_scale(metric: str, values: Sequence[float]) -> bool:
    positive = [v for v in values if math.isfinite(v)]
    if not positive or min(positive) <= 0:
        return False
    if any(hint in metric for hint in LOG_SCALE_HINTS):
        return True
    return max(positive) / min(positive) > 100


def _axis_range(values: Sequence[float], log: bool) -> tuple[float, float]:
    """Fits every value shown (means, interval ends, references) with a small margin."""
    finite = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not finite:
        return (0.0, 1.0)
    low, high = min(finite), max(finite)
    if log:
        span = math.log10(high / low) if high > low else 1.0
        pad = 10 ** (0.08 * span)
        return low / pad, high * pad
    pad = 0.08 * (high - low) if high > low else max(abs(high) * 0.05, 1e-3)
    return low - pad, high + pad


def board_plot(board: Board, path: Path) -> None:
    """One panel per plotted metric: a dot for each entry's mean with its 95 % interval,
    and each published reference on its own row below a rule, so no label overlaps
    another. Axes fit what they show; fields that read a metric on a log axis get one."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = plotted_metrics(board)
    entries = [e for e in board.entries if board.primary in e.metrics]
    references = [r for r in board.references if r["metric"] in metrics]
    # One row per referenced model, with its number in each panel that quotes one.
    ref_models = list(dict.fromkeys(r["model"] for r in references))
    labels = [e.model for e in entries] + [f"ref: {m}" for m in ref_models]
    rows = len(labels)
    width = 2.0 + 3.6 * len(metrics)
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(width, 0.38 * rows + 1.6), sharey=True, squeeze=False
    )
    y_entries = np.arange(len(entries))[::-1] + len(ref_models) + (0.6 if ref_models else 0)
    y_refs = dict(zip(ref_models, np.arange(len(ref_models))[::-1].astype(float), strict=True))
    for ax, metric in zip(axes[0], metrics, strict=True):
        shown: list[float] = []
        for y, entry in zip(y_entries, entries, strict=True):
            summary = entry.metrics.get(metric)
            if summary is None or not math.isfinite(summary.mean):
                continue
            colour = "#4c72b0" if entry.rank is not None else "#999999"
            low, high = summary.ci95 if summary.ci95 is not None else (summary.mean,) * 2
            ax.errorbar(
                summary.mean,
                y,
                xerr=[[summary.mean - low], [high - summary.mean]],
                fmt="o",
                color=colour,
                ecolor=colour,
                capsize=3,
                markersize=5,
            )
            shown += [summary.mean, low, high]
        for ref in references:
            if ref["metric"] == metric:
                ax.plot(
                    ref["value"], y_refs[ref["model"]], marker="D", color="#c44e52", markersize=5
                )
                shown.append(ref["value"])
        if ref_models:
            ax.axhline(len(ref_models) - 0.2, color="#cccccc", linewidth=0.8)
        log = _log_scale(metric, shown)
        if log:
            _log_axis(ax, _axis_range(shown, log))
        else:
            ax.set_xlim(*_axis_range(shown, log))
        ax.grid(axis="x", color="#eeeeee", which="both")
        ax.set_axisbelow(True)
        better = "higher" if _direction(board, metric) == "maximize" else "lower"
        scale = ", log scale" if log else ""
        ax.set_xlabel(textwrap.fill(f"{metric} ({better} is better{scale})", 34), fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0][0].set_yticks(list(y_entries) + list(y_refs.values()), labels, fontsize=8)
    for tick, text in zip(axes[0][0].get_yticklabels(), labels, strict=True):
        if text.startswith("ref: "):
            tick.set_color("#c44e52")
    fig.suptitle(
        f"{board.scenario}@{board.version} ({board.size})\n"
        "dots: means, whiskers: 95 % intervals, red diamonds: published references",
        fontsize=9,
    )
    fig.savefig(path, dpi=110, bbox_inches="tight")  # tight: no label is cut off
    plt.close(fig)


def _log_axis(ax: Any, limits: tuple[float, float]) -> None:
    """A log axis labelled in plain numbers (0.006, 0.01, 0.02); within a decade or so
    the 2s and 5s are labelled too, never every minor tick (their labels collide)."""
    from matplotlib import ticker

    ax.set_xscale("log")
    ax.set_xlim(*limits)
    plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    if math.log10(limits[1] / limits[0]) < 1.5:
        ax.xaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(plain)
    else:
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _direction(board: Board, metric: str) -> str:
    if metric == board.primary:
        return board.direction
    return board.directions.get(metric, "maximize")


def best_text(board: Board) -> str:
    """The best entry, or every entry tied for first; never one name where several tie."""
    best = board.best
    if not best:
        return "none ranked"
    names = ", ".join(e.model for e in best)
    if len(best) == 1:
        return names
    if board.negative_control in {e.model for e in best}:
        return f"tied: {names} (the negative control ties: no separation)"
    return f"tied: {names}"


def write_boards(boards: list[Board], out_dir: Path) -> list[Path]:
    """Markdown + JSON + PNG per scenario and the index; returns the files written."""
    written: list[Path] = []
    rows = []
    for board in boards:
        base = out_dir / board.slug
        base.parent.mkdir(parents=True, exist_ok=True)
        md, js, png = base.with_suffix(".md"), base.with_suffix(".json"), base.with_suffix(".png")
        _atomic_write(md, board_markdown(board))
        _atomic_write(js, json.dumps(board.to_json(), indent=2, sort_keys=True) + "\n")
        board_plot(board, png)
        written += [md, js, png]
        if board.curves:
            curves_png = base.with_name(f"{base.name}-curves.png")
            curves_plot(board, curves_png)
            written.append(curves_png)
        best = board.best
        score = (
            f"{mean_text(best[0].metrics[board.primary])} "
            f"{interval_text(best[0].metrics[board.primary])}"
            if len(best) == 1
            else "-"
        )
        rows.append(
            f"| [{board.name}]({board.slug}.md) | {board.size} | {board.primary} | "
            f"{best_text(board)} | {score} | {len(board.entries)} |"
        )
    rows += _boards_not_rebuilt(out_dir, {b.slug for b in boards})
    index = [
        "# Leaderboards",
        "",
        "Built by `assay leaderboard build` from tracked MLflow runs (or the run records "
        "committed beside them). The best model is the one ranked first; where the test "
        "cannot separate several, all of them are named.",
        "",
        "| scenario | size | primary metric | best model | score [95 % CI] | models |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(out_dir / "README.md", "\n".join(index))
    written.append(out_dir / "README.md")
    written += write_results(out_dir, [b.scenario for b in boards], {b.slug for b in boards})
    return written


def stale_boards(out_dir: Path, rebuilt: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """(slug, JSON) of boards left in `out_dir` by an earlier build that this one could not
    rebuild (their runs are in no store and no record), so they are flagged, not hidden."""
    found = []
    for path in sorted(out_dir.glob("*/*.json")):
        slug = path.relative_to(out_dir).with_suffix("").as_posix()
        if slug in rebuilt:
            continue
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(old, dict) and "scenario" in old and "entries" in old:
            found.append((slug, old))
    return found


def stale_note(old: Mapping[str, Any]) -> str:
    return f"not rebuilt: {old.get('method', 'earlier statistics')}, see its page"


def _boards_not_rebuilt(out_dir: Path, rebuilt: set[str]) -> list[str]:
    return [
        f"| [{old['scenario']}]({slug}.md) | {old.get('size', '?')} | "
        f"{old.get('primary', '?')} | {stale_note(old)} | - | {len(old['entries'])} |"
        for slug, old in stale_boards(out_dir, rebuilt)
    ]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
