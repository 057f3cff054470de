"""The results text of the READMEs, generated from the committed boards' JSON.

`assay leaderboard build` writes `OUT/<domain>/RESULTS.md` (per scenario: every
ranked entry with its primary score and interval, the ties, what the board
cannot tell, and the published references) and `OUT/RESULTS.md` (one row per
scenario: the best entry or every entry tied for first). READMEs copy these
files between include markers,

    <!-- include: leaderboards/RESULTS.md -->
    ...
    <!-- end include -->

which `refresh_includes` rewrites (`python -m assay.publish.results_text README.md
packages/*/README.md`), so no result number is typed by hand.

Everything here reads the boards' JSON (`Board.to_json()`), so boards an earlier
build left (not rebuilt, no runs) are summarised too, flagged as such.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.evaluation.stats import DETERMINISTIC, fmt_interval, fmt_mean_std

RESULTS_FILE = "RESULTS.md"
INCLUDE = re.compile(
    r"(?P<head><!-- include: (?P<path>[^ ]+) -->\n)(?P<body>.*?)(?P<tail><!-- end include -->)",
    re.DOTALL,
)
_LINK = re.compile(r"\]\((?P<target>[^)#:\s]+)(?P<anchor>#[^)\s]*)?\)")
STALE = "not rebuilt under the current statistics (no runs or records); see its page"


def board_notes(board: Mapping[str, Any]) -> list[str]:
    """Plain sentences on what a board cannot tell, from its JSON: entries that gave the
    same result on every seed, a negative control that ties for first, fit times that
    count only the last sitting of a resumed fit."""
    primary = board["primary"]
    entries = board["entries"]
    notes = []
    fixed = [
        e["model"]
        for e in entries
        if e.get("metrics", {}).get(primary, {}).get("method") == DETERMINISTIC
    ]
    if fixed:
        names = ", ".join(f"`{m}`" for m in fixed)
        notes.append(
            f"{names} gave the same {primary} on every seed: deterministic, so it has no "
            "interval from seeds. Its rank against another entry comes only from the paired "
            "test over that entry's seeds; two deterministic entries cannot be separated "
            "by seeds and share a rank."
        )
    negative = board.get("negative_control", "")
    first = [e for e in entries if e.get("rank") == 1]
    if len(first) > 1 and negative in {e["model"] for e in first}:
        counts = sorted({e["metrics"][primary].get("n", 0) for e in first})
        notes.append(
            f"This board does not separate the models: the negative control `{negative}` "
            f"shares rank 1 with {len(first) - 1} other entries, so the test cannot tell "
            "any of them from no model at all (each interval rests on "
            f"{' to '.join(str(c) for c in counts)} results). Its order is not a ranking."
        )
    for entry in entries:
        if entry.get("resumed"):
            notes.append(
                f"`{entry['model']}` trained over more than one sitting: its fits were "
                f"stopped and went on from their checkpoints at epoch {entry['resumed']}, to "
                "the weights an uninterrupted fit gives, so its fit s counts only the "
                "last sitting."
            )
    pending = board.get("pending", [])
    if pending:
        names = ", ".join(f"`{m}`" for m in pending)
        notes.append(
            f"Incomplete: the suite's entries {names} have no recorded results yet (the "
            "suite is still running, or resumes from its run records in a later sitting); "
            "the ranks above are among the entries shown."
        )
    return notes


def _num(value: Any, digits: int = 4) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"{value + 0.0:.{digits}g}"


def _interval(summary: Mapping[str, Any]) -> str:
    if summary.get("method") == DETERMINISTIC:
        return "deterministic"
    ci = summary.get("ci95")
    return fmt_interval(None if ci is None else (float(ci[0]), float(ci[1])))


def _score(summary: Mapping[str, Any] | None) -> str:
    if not summary:
        return "-"
    std = summary.get("std")
    mean = fmt_mean_std(float(summary["mean"]), float("nan") if std is None else float(std))
    return f"{mean} {_interval(summary)}"


def _rank(entry: Mapping[str, Any], entries: Sequence[Mapping[str, Any]], stale: bool) -> str:
    rank = entry.get("rank")
    if rank is None or stale:  # an earlier build's ranks rest on no test
        return "-"
    tied = sum(1 for e in entries if e.get("rank") == rank) > 1
    return f"{rank}=" if tied else str(rank)


def best_names(board: Mapping[str, Any]) -> list[str]:
    return [e["model"] for e in board["entries"] if e.get("rank") == 1]


def scenario_results(board: Mapping[str, Any], *, stale: bool = False) -> str:
    """One scenario's summary: its ranked entries on the primary metric, the ties, notes
    and the published references."""
    name = board["scenario"].split("/", 1)[-1]
    primary = board["primary"]
    arrow = "higher is better" if board.get("direction") == "maximize" else "lower is better"
    entries = board["entries"]
    method = board.get("method", "earlier statistics")
    lines = [
        f"### [{board['scenario']}]({name}.md)",
        "",
        f"{board.get('title', '')}. `{board['scenario']}@{board.get('version', '?')}`, size "
        f"`{board.get('size', '?')}`; **{primary}** ({arrow}) mean ± std [95 % CI]; "
        f"intervals and ties: {method}.",
        "",
    ]
    if stale:
        lines += [f"**Not rebuilt:** {STALE}.", ""]
    lines += [f"| rank | model | {primary} |", "|---|---|---|"]
    for entry in entries:
        failed = (
            f" ({entry['failures']} of {entry['units']} units failed)"
            if entry.get("failures")
            else ""
        )
        lines.append(
            f"| {_rank(entry, entries, stale)} | {entry['model']}{failed} | "
            f"{_score(entry.get('metrics', {}).get(primary))} |"
        )
    best = best_names(board)
    lines.append("")
    if stale:
        best = []
    if len(best) > 1:
        lines.append(f"Tied for first (the test does not separate them): {', '.join(best)}.")
    elif best:
        lines.append(f"First alone: {best[0]}.")
    lines += board_notes(board)
    references = board.get("references") or []
    if references:
        lines += ["", "Published references (context, on other data where noted):", ""]
        lines += [
            f"- {r['model']}: {r['metric']} {_num(r['value'])} ({r['citation']}; {r['note']})"
            for r in references
        ]
    return "\n".join(lines) + "\n"


def domain_results(domain: str, boards: Sequence[tuple[Mapping[str, Any], bool]]) -> str:
    """`OUT/<domain>/RESULTS.md`: every board of one plugin, in the build's order."""
    head = [  # no heading of its own: READMEs include it under theirs
        f"The {domain} boards, summarised by `assay leaderboard build` from the boards "
        "beside this file (do not edit by hand). Each scenario's page holds every metric, "
        "fit times and the data card.",
        "",
    ]
    body = [scenario_results(board, stale=stale) for board, stale in boards]
    return "\n".join(head) + "\n" + "\n".join(body)


def index_results(boards: Sequence[tuple[Mapping[str, Any], bool]]) -> str:
    """`OUT/RESULTS.md`: the best entry of every board, or every entry tied for first."""
    lines = [
        "Generated by `assay leaderboard build` from the boards (do not edit by hand); each "
        "plugin's summary, with every entry, is linked in the first column.",
        "",
        "| plugin | scenario | primary metric | best (every entry tied for first) | "
        "score [95 % CI] | negative control |",
        "|---|---|---|---|---|---|",
    ]
    for board, stale in boards:
        domain, name = board["scenario"].split("/", 1)
        primary = board["primary"]
        by_model = {e["model"]: e for e in board["entries"]}
        best = best_names(board)
        if stale:
            best_cell, score = STALE, "-"
        elif len(best) == 1:
            best_cell, score = best[0], _score(by_model[best[0]]["metrics"].get(primary))
        else:
            best_cell, score = "tied: " + ", ".join(best), "-"
        if board.get("negative_control") in best and len(best) > 1:
            best_cell += " (the negative control ties: no separation)"
        negative = by_model.get(board.get("negative_control", ""))
        control = (
            f"{negative['model']} {_num(negative['metrics'][primary]['mean'])}"
            if negative and primary in negative.get("metrics", {})
            else "-"
        )
        lines.append(
            f"| [{domain}]({domain}/{RESULTS_FILE}) | [{name}]({domain}/{name}.md) | "
            f"{primary} | {best_cell} | {score} | {control} |"
        )
    return "\n".join(lines) + "\n"


def _boards(out_dir: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(out_dir.glob("*/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and "scenario" in data and "entries" in data:
            found.append(data)
    return found


def write_results(out_dir: Path, order: Sequence[str], rebuilt: set[str]) -> list[Path]:
    """The results files from every board JSON under `out_dir`: the boards of this build in
    `order` (scenario ids), then those an earlier build left, flagged as not rebuilt."""
    boards = {b["scenario"]: b for b in _boards(out_dir)}
    ordered = [s for s in order if s in boards] + sorted(s for s in boards if s not in order)
    pairs = [(boards[s], s not in rebuilt) for s in ordered]
    by_domain: dict[str, list[tuple[Mapping[str, Any], bool]]] = {}
    for board, stale in pairs:
        by_domain.setdefault(board["scenario"].split("/", 1)[0], []).append((board, stale))
    written = []
    for domain, group in by_domain.items():
        path = out_dir / domain / RESULTS_FILE
        _write(path, domain_results(domain, group))
        written.append(path)
    _write(out_dir / RESULTS_FILE, index_results(pairs))
    written.append(out_dir / RESULTS_FILE)
    return written


def relinked(text: str, source_dir: Path, target_dir: Path) -> str:
    """`text` from a file in `source_dir` with its relative links rewritten to work from
    `target_dir` (a README that includes it)."""

    def fix(match: re.Match[str]) -> str:
        target = match["target"]
        moved = os.path.relpath(source_dir / target, target_dir)
        return f"]({Path(moved).as_posix()}{match['anchor'] or ''})"

    return _LINK.sub(fix, text)


def included(readme: Path) -> list[tuple[str, str, str]]:
    """(path, text in the README, text it should hold) for every include block."""
    text = readme.read_text(encoding="utf-8")
    blocks = []
    for match in INCLUDE.finditer(text):
        source = Path(os.path.abspath(readme.parent / match["path"]))
        want = (
            relinked(
                source.read_text(encoding="utf-8"),
                source.parent,
                Path(os.path.abspath(readme.parent)),
            )
            if source.is_file()
            else ""
        )
        blocks.append((match["path"], match["body"], want))
    return blocks


def refresh_includes(readme: Path) -> bool:
    """Rewrite the README's include blocks from their files; True when it changed."""
    text = readme.read_text(encoding="utf-8")

    def fill(match: re.Match[str]) -> str:
        source = Path(os.path.abspath(readme.parent / match["path"]))
        if not source.is_file():
            return match[0]
        body = relinked(
            source.read_text(encoding="utf-8"), source.parent, Path(os.path.abspath(readme.parent))
        )
        return f"{match['head']}{body}{match['tail']}"

    new = INCLUDE.sub(fill, text)
    if new != text:
        _write(readme, new)
    return new != text


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def main(argv: Sequence[str]) -> int:
    """`python -m assay.publish.results_text README.md ...`: refresh the include blocks."""
    for name in argv:
        if refresh_includes(Path(name)):
            print(f"refreshed {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
