"""A board as text and files: its Markdown page, the index of every board, and the JSON
and figures beside them, each written whole (never half a file).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assay.evaluation.stats import (
    MetricSummary,
    fmt_bounded,
    fmt_mean_std,
    interval_text,
)
from assay.publish.board import BOUND_NOTE, QUICK_NOTE, Board, Entry, has_bounds
from assay.publish.plots import board_plot, curves_plot
from assay.publish.results_text import board_notes, write_results


def fmt_number(value: float | None, digits: int = 4) -> str:
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
    return fmt_bounded(fmt_number(summary.mean, digits), summary.bound)


def rank_text(entry: Entry) -> str:
    return str(entry.rank) if entry.rank is not None else "-"


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
            f"{interval_text(p) if p else '-'} | {fmt_number(e.normalised, 3)} | "
            + "".join(f"{c} | " for c in cells)
            + f"{fmt_number(e.fit_seconds, 3)} | {fmt_number(e.peak_memory_mb, 3)} | {e.units} ({e.failures}) |"
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
            f"| {entry.model} | {fmt_number(band.median[-1])} [{fmt_number(band.q25[-1])}, "
            f"{fmt_number(band.q75[-1])}] | {fmt_number(entry.discovery.get('ef'), 3)} | "
            f"{fmt_number(entry.discovery.get('af'), 3)} |"
        )
    return lines


def write_boards(boards: list[Board], out_dir: Path) -> list[Path]:
    """Markdown + JSON + PNG per scenario and the index; returns the files written."""
    written: list[Path] = []
    rows = []
    for board in boards:
        base = out_dir / board.slug
        base.parent.mkdir(parents=True, exist_ok=True)
        md, js, png = base.with_suffix(".md"), base.with_suffix(".json"), base.with_suffix(".png")
        atomic_write(md, board_markdown(board))
        atomic_write(js, json.dumps(board.to_json(), indent=2, sort_keys=True) + "\n")
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
    atomic_write(out_dir / "README.md", "\n".join(index))
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


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
