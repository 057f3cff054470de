"""Leaderboards, built from MLflow runs only (never typed by hand).

Per scenario: mean +- std and a 95 % t-interval over units (folds x seeds),
ranks with ties where a paired t-test over matching units finds no
significant difference (p >= 0.05), the score normalised between the negative
control (0) and the positive control or the best model (1) as Open Problems
does, fit time and peak memory, and the published references beside ours.
Written as Markdown + JSON + PNG per scenario and an index README.md.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.tracking import MlflowClient
from scipy import stats

from assay.spec import ModelEntry, ScenarioSpec, Size
from assay.tracking import TAG
from assay.units import parent_key

SIGNIFICANCE = 0.05


@dataclass
class MetricSummary:
    mean: float
    std: float
    ci95: tuple[float, float]
    n: int


@dataclass
class Entry:
    model: str
    rank: int
    metrics: dict[str, MetricSummary]
    normalised: float | None
    fit_seconds: float
    peak_memory_mb: float
    units: int
    failures: int
    errors: list[str] = field(default_factory=list)
    values: dict[str, dict[str, float]] = field(default_factory=dict)
    """metric -> unit/seed key -> value; the pairs the rank test uses."""


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
    description: str = ""

    @property
    def slug(self) -> str:
        return self.scenario

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarise(values: list[float]) -> MetricSummary:
    arr = np.asarray(values, dtype=float)
    n = len(arr)
    mean = float(arr.mean())
    if n < 2:
        return MetricSummary(mean, 0.0, (mean, mean), n)
    std = float(arr.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n))
    return MetricSummary(mean, std, (mean - half, mean + half), n)


def significantly_different(a: dict[str, float], b: dict[str, float]) -> bool:
    """Paired t-test over the units both models ran; with < 2 pairs, any difference counts."""
    keys = sorted(set(a) & set(b))
    x = np.array([a[k] for k in keys])
    y = np.array([b[k] for k in keys])
    if len(keys) < 2:
        return bool(len(keys) == 0 or x[0] != y[0])
    diff = x - y
    if np.allclose(diff, 0):
        return False
    if np.allclose(diff, diff[0]):  # constant non-zero difference: t is infinite
        return True
    return bool(stats.ttest_rel(x, y).pvalue < SIGNIFICANCE)


def rank_entries(entries: list[Entry], primary: str, maximize: bool) -> list[Entry]:
    """Competition ranking on the mean; a model that the paired test cannot separate from
    the leader of the current tie group shares its rank."""
    ordered = sorted(entries, key=lambda e: e.metrics[primary].mean, reverse=maximize)
    leader: Entry | None = None
    for position, entry in enumerate(ordered, start=1):
        if leader is not None and not significantly_different(
            leader.values[primary], entry.values[primary]
        ):
            entry.rank = leader.rank
        else:
            entry.rank, leader = position, entry
    return ordered


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
        runs += [r for r in page if r.info.status in ("FINISHED", "FAILED")]
        token = page.token
        if not token:
            return runs


def build_board(
    client: MlflowClient,
    spec: ScenarioSpec,
    size: Size,
    models: Sequence[ModelEntry] | None = None,
) -> Board | None:
    """The leaderboard of one scenario at one size, or None when it has no runs.

    With `models` (a suite's entries) only their runs count: a model's label
    alone is not enough, since `assay run -m hep.cut -p ...` tracks other
    parameters under the same label. Without, every tracked entry gets a row."""
    experiment = client.get_experiment_by_name(spec.id)
    if experiment is None:
        return None
    runs = _unit_runs(client, experiment.experiment_id, spec, size)
    if models is not None:
        shas = {r.data.tags[f"{TAG}data_sha"] for r in runs}
        keys = {parent_key(spec.key, size, sha, m) for sha in shas for m in models}
        runs = [r for r in runs if r.data.tags.get(f"{TAG}parent_key") in keys]
    if not runs:
        return None
    # Only the newest data: older runs on other data are not comparable.
    newest = max(runs, key=lambda r: r.info.start_time)
    data_sha = newest.data.tags[f"{TAG}data_sha"]
    runs = [r for r in runs if r.data.tags[f"{TAG}data_sha"] == data_sha]
    by_model = _rows(client, runs, describe_unlabelled=models is None)
    metric_names = [m.name for m in spec.metrics]
    entries = []
    for model, model_runs in by_model.items():
        ok = [r for r in model_runs if r.info.status == "FINISHED"]
        values: dict[str, dict[str, float]] = {name: {} for name in metric_names}
        for run in ok:
            key = f"{run.data.tags[f'{TAG}unit']}/s{run.data.tags[f'{TAG}seed']}"
            for name in metric_names:
                if name in run.data.metrics:
                    values[name][key] = run.data.metrics[name]
        if not values[metric_names[0]]:
            continue
        summaries = {n: summarise(list(v.values())) for n, v in values.items() if v}
        entries.append(
            Entry(
                model=model,
                rank=0,
                metrics=summaries,
                normalised=None,
                fit_seconds=_mean(ok, "fit_seconds"),
                peak_memory_mb=_mean(ok, "peak_memory_mb"),
                units=len(model_runs),
                failures=len(model_runs) - len(ok),
                errors=sorted(
                    {r.data.tags.get(f"{TAG}error", "") for r in model_runs if r not in ok}
                )[:3],
                values=values,
            )
        )
    if not entries:
        return None
    primary = spec.primary_metric
    maximize = primary.direction == "maximize"
    entries = rank_entries(entries, primary.name, maximize)
    _normalise(entries, spec, primary.name)
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
        description=" ".join(spec.description.split()),
    )


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
    label_count = Counter(g[0].data.tags[f"{TAG}model_label"] for g in groups.values())
    rows: dict[str, list[Any]] = {}
    for group in groups.values():
        tags = group[0].data.tags
        label = tags[f"{TAG}model_label"]
        unlabelled = describe_unlabelled and label == tags[f"{TAG}model"]
        described = (
            _parameters_text(client, group[0]) if label_count[label] > 1 or unlabelled else ""
        )
        label = f"{label} [{described}]" if described else label
        if label in rows:  # parameters that print alike but differ (1 and "1")
            label = f"{label} ({tags.get(f'{TAG}parent_key', '')[:8]})"
        rows[label] = group
    return rows


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
    """Negative control -> 0, positive control (or the best model) -> 1."""
    means = {e.model: e.metrics[primary].mean for e in entries}
    negative = means.get(spec.controls.negative)
    top = means.get(spec.controls.positive or "", entries[0].metrics[primary].mean)
    if negative is None or top == negative:
        return
    for entry in entries:
        entry.normalised = (entry.metrics[primary].mean - negative) / (top - negative)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value + 0.0:.{digits}g}"  # + 0.0 turns -0 into 0


def board_markdown(board: Board) -> str:
    metric_names = list(board.entries[0].metrics)
    arrow = "higher is better" if board.direction == "maximize" else "lower is better"
    lines = [
        f"# {board.title}",
        "",
        f"`{board.scenario}@{board.version}`, size `{board.size}`. Primary metric: "
        f"**{board.primary}** ({arrow}). {board.description}",
        "",
        "| rank | model | "
        + f"{board.primary} mean ± std | 95 % CI | normalised | "
        + " | ".join(f"{m}" for m in metric_names[1:])
        + (" | " if metric_names[1:] else "")
        + "fit s | peak MB | units (failed) |",
        "|" + "---|" * (8 + len(metric_names[1:])),
    ]
    for e in board.entries:
        p = e.metrics[board.primary]
        others = [
            f"{_fmt(e.metrics[m].mean)} ± {_fmt(e.metrics[m].std, 2)}"
            for m in metric_names[1:]
            if m in e.metrics
        ]
        lines.append(
            f"| {e.rank} | {e.model} | {_fmt(p.mean)} ± {_fmt(p.std, 2)} | "
            f"[{_fmt(p.ci95[0])}, {_fmt(p.ci95[1])}] | {_fmt(e.normalised, 3)} | "
            + " | ".join(others)
            + (" | " if others else "")
            + f"{_fmt(e.fit_seconds, 3)} | {_fmt(e.peak_memory_mb, 3)} | {e.units} ({e.failures}) |"
        )
    lines += [
        "",
        f"Ranks are shared where a paired t-test over matching folds and seeds finds no "
        f"difference at p < {SIGNIFICANCE}. Normalised: `{board.negative_control}` (negative "
        "control) = 0, best = 1. Peak MB is resident memory above the unit's start.",
    ]
    failed = [e for e in board.entries if e.failures]
    for e in failed:
        lines.append(
            f"- `{e.model}`: {e.failures} failed units ({'; '.join(x for x in e.errors if x)})"
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


def board_plot(board: Board, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = board.entries
    means = [e.metrics[board.primary].mean for e in entries]
    errors = np.array(
        [
            [m - e.metrics[board.primary].ci95[0], e.metrics[board.primary].ci95[1] - m]
            for m, e in zip(means, entries, strict=True)
        ]
    ).T
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(entries) + 1.6))
    y = np.arange(len(entries))[::-1]
    ax.barh(y, means, xerr=errors, color="#4c72b0", capsize=3)
    ax.set_yticks(y, [e.model for e in entries])
    for ref in board.references:
        if ref["metric"] == board.primary:
            ax.axvline(ref["value"], color="#c44e52", linestyle="--", linewidth=1)
            ax.text(
                ref["value"],
                len(entries) - 0.4,
                f" {ref['model']}",
                color="#c44e52",
                fontsize=7,
                rotation=90,
                va="top",
            )
    arrow = "higher is better" if board.direction == "maximize" else "lower is better"
    ax.set_xlabel(f"{board.primary} ({arrow}); bars: mean, whiskers: 95 % CI")
    ax.set_title(f"{board.scenario}@{board.version} ({board.size})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
        best = board.entries[0]
        rows.append(
            f"| [{board.scenario}]({board.slug}.md) | {board.size} | {board.primary} | {best.model} | "
            f"{_fmt(best.metrics[board.primary].mean)} | {len(board.entries)} |"
        )
    index = [
        "# Leaderboards",
        "",
        "Built by `assay leaderboard build` from tracked MLflow runs only.",
        "",
        "| scenario | size | primary metric | best model | score | models |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(out_dir / "README.md", "\n".join(index))
    written.append(out_dir / "README.md")
    return written


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
