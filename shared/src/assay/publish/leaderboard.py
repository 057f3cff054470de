"""Leaderboards, built from MLflow runs only (never typed by hand).

Per scenario: mean +- std, a 95 % interval and ranks with ties, all from
`assay.evaluation.stats` (the corrected resampled t-test over folds, or a paired
bootstrap over the test examples of a fixed test set), the score normalised
between the negative control (0) and the positive control or the best model
(1) as Open Problems does, fit time and peak memory, and the published
references beside ours. An entry with failed units is listed below the
complete ones, unranked, with its failure count and first error.
This module assembles a board from the runs `query` reads and the tests `statistics`
adds; `rendering` writes it as Markdown + JSON + PNG per scenario and an index README.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
from mlflow.tracking import MlflowClient

from assay.engine.tracking import EXTERNAL, TAG, partial_folds
from assay.evaluation.metrics import BOUND_INFO, Metric, combined_bound
from assay.evaluation.stats import (
    BOOTSTRAP_METHOD,
    CV_METHOD,
    NO_TEST,
    SEEDS_METHOD,
    Band,
    MetricSummary,
    Ranked,
    UnitKey,
    bootstrap_differ,
    bootstrap_summary,
    clipped,
    cv_differ,
    cv_summary,
    rank_with_ties,
    seed_summary,
    seeds_differ,
)
from assay.loop.campaign import DESIGN_SEEDS
from assay.publish.board import Board, Entry
from assay.publish.query import (
    board_rows,
    data_card,
    environment_tags,
    fixed_test_set,
    mean_metric,
    newest_per_unit,
    pending_entries,
    resumed_epochs,
    selected_runs,
    test_train_ratio,
    unit_key,
)
from assay.publish.statistics import bootstrap_entries, discovery_curves, normalise, unit_key_of
from assay.spec import ModelEntry, ScenarioSpec, Size


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
    runs = selected_runs(client, spec, size, models)
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
    runs = selected_runs(client, spec, size, models)
    if data_sha is not None:
        runs = [r for r in runs if r.data.tags[f"{TAG}data_sha"] == data_sha]
    if not runs:
        return None
    newest = max(runs, key=lambda r: r.info.start_time)
    data_sha = newest.data.tags[f"{TAG}data_sha"]
    runs = [r for r in runs if r.data.tags[f"{TAG}data_sha"] == data_sha]
    runs = newest_per_unit(runs)
    by_row = board_rows(client, runs, describe_unlabelled=models is None)
    metric_names = [m.name for m in spec.metrics]
    finished = [r for r in runs if r.info.status == "FINISHED"]
    by_seeds = bool(finished) and all(
        r.data.tags.get(f"{TAG}info.design") == DESIGN_SEEDS for r in finished
    )
    fixed = fixed_test_set(finished) if finished and not by_seeds else False
    resampled, n_test = None, 0
    if fixed and metrics is not None and all(n in metrics for n in metric_names):
        ok_rows = {
            name: group
            for name, group in by_row.items()
            if any(r.info.status == "FINISHED" for r in group)
        }
        resampled, n_test = bootstrap_entries(client, ok_rows, [metrics[n] for n in metric_names])
    ratio = test_train_ratio(finished)
    entries = []
    for name, group in by_row.items():
        ok = [r for r in group if r.info.status == "FINISHED"]
        failed = [r for r in group if r.info.status != "FINISHED"]
        values: dict[str, dict[UnitKey, float]] = {m: {} for m in metric_names}
        for run in ok:
            for metric in metric_names:
                if metric in run.data.metrics:
                    values[metric][unit_key(run)] = run.data.metrics[metric]
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
                fit_seconds=mean_metric(ok, "fit_seconds"),
                peak_memory_mb=mean_metric(ok, "peak_memory_mb"),
                units=len(group),
                failures=len(failed),
                errors=[e.splitlines()[0] if e else "?" for e in errors][:3],
                failed_run=failed[0].info.run_id if failed else "",
                external=group[0].data.tags.get(EXTERNAL, ""),
                partial=partial_folds([r.data.tags for r in group]),
                resumed=resumed_epochs(ok),
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
            va = {unit_key_of(k): v for k, v in by_name[a].values[primary.name].items()}
            vb = {unit_key_of(k): v for k, v in by_name[b].values[primary.name].items()}
            return seeds_differ(va, vb)
        if resampled is not None:
            return bootstrap_differ(resampled[a][primary.name], resampled[b][primary.name])
        if fixed:
            return False  # no predictions to test with: tie
        va = {unit_key_of(k): v for k, v in by_name[a].values[primary.name].items()}
        vb = {unit_key_of(k): v for k, v in by_name[b].values[primary.name].items()}
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
    normalise(entries, spec, primary.name)
    method = BOOTSTRAP_METHOD if resampled is not None else (NO_TEST if fixed else CV_METHOD)
    curves: dict[str, Band] = {}
    curve_metric = ""
    if by_seeds:
        method = SEEDS_METHOD
        curve_metric, curves = discovery_curves(client, by_row, entries, spec.controls.negative)
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
        dataset=data_card(client, newest),
        environment=environment_tags(client, newest),
        task=spec.task,
        unit_runs=runs,
        curves=curves,
        curve_metric=curve_metric,
        pending=pending_entries(spec.key, size, data_sha, models, runs),
    )
