"""A board's figures: one panel per plotted metric (means, 95 % intervals and published
references), and the discovery curves of a closed loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assay.publish.board import Board


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
