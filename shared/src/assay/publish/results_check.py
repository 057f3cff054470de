"""Checks that a README quotes only numbers and ties that committed files hold.

A README's result numbers come from the boards (`leaderboards/*/*.json`), the
committed bench outputs (`*/bench/*` and `packages/*/bench/*`, each with its `results/`
subfolder, scripts aside),
the reference numbers (`docs/references.md`) or the scenario files the numbers
describe (sizes, noise levels, parameters). `check_readme` reports:

- an include block (see `assay.publish.results_text`) whose text is not its file's;
- a decimal number in the prose (outside code, include blocks and HTML
  comments) that no such file holds at the precision quoted (0.0752 matches a
  board's 0.07523; 0.0761 does not), read as a plain value or as a percentage;
- a sentence that says entries tie when no board ranks all the entries it names
  alike (a sentence that claims a tie names only the tied entries).

Integers are not checked: counts of samples, folds and seeds are everywhere.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.publish.results_text import INCLUDE, included

README_GLOBS = ("README.md", "packages/*/README.md")
NUMBER = re.compile(
    r"(?<![\w.^/#-])[-−]?(?P<mantissa>\d{1,3}(?:,\d{3})*\.\d+|\d+\.\d+)"
    r"(?:e(?P<exp>[-+−]?\d+)|\s?x\s?10\^(?P<pow>[-−]?\d+))?(?![\w.]*\d|\.\d)"
)
_FENCE = re.compile(r"^\s*```.*?^\s*```[^\n]*$", re.DOTALL | re.MULTILINE)
_CODE = re.compile(r"`[^`\n]*`")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_URL = re.compile(r"\]\([^)]*\)|https?://\S+")
_TIE = re.compile(r"\b(?:tie[sd]?|tying)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.;:!?])\s+|\n\s*\n|\n\s*[-|]")


@dataclass
class Sources:
    """Every number the committed files hold (absolute values, sorted) and the boards."""

    values: list[float] = field(default_factory=list)
    boards: list[dict[str, Any]] = field(default_factory=list)

    def holds(self, text: str, value: float, percent: bool) -> bool:
        tolerance = _half_unit(text)
        candidates = [abs(value)] + ([abs(value) / 100] if percent else [])
        for target, tol in zip(candidates, (tolerance, tolerance / 100), strict=False):
            low = bisect.bisect_left(self.values, target - tol * (1 + 1e-9))
            if low < len(self.values) and self.values[low] <= target + tol * (1 + 1e-9):
                return True
        return False


def _half_unit(text: str) -> float:
    """Half a unit in the last digit quoted: the rounding a quote may have done."""
    match = NUMBER.fullmatch(text.strip().lstrip("-−"))
    if match is None:
        return 0.0
    decimals = len(match["mantissa"].split(".")[1])
    exponent = match["exp"] or match["pow"] or "0"
    return 0.5 * 10.0 ** (int(exponent.replace("−", "-")) - decimals)


def _parse(match: re.Match[str]) -> float:
    mantissa = float(match["mantissa"].replace(",", ""))
    exponent = match["exp"] or match["pow"]
    return mantissa * 10.0 ** int(exponent.replace("−", "-")) if exponent else mantissa


def numbers_in(text: str) -> Iterator[float]:
    """Every number of a source file; a percentage also as its fraction."""
    for match in NUMBER.finditer(text):
        yield _parse(match)
        if "%" in text[match.end() : match.end() + 2]:
            yield _parse(match) / 100
    for match in re.finditer(r"(?<![\w.])\d+(?:,\d{3})*(?![\w.]*\d)", text):
        yield float(match[0].replace(",", ""))


def _board_numbers(board: Mapping[str, Any]) -> Iterator[float]:
    for entry in board.get("entries", []):
        for summary in entry.get("metrics", {}).values():
            yield from (summary.get("mean"), summary.get("std"))
            yield from summary.get("ci95") or ()
        yield from (entry.get(k) for k in ("normalised", "fit_seconds", "peak_memory_mb"))
        yield from (entry.get("discovery") or {}).values()
    for reference in board.get("references", []):
        yield reference.get("value")
    for band in (board.get("curves") or {}).values():
        for key in ("median", "q25", "q75"):
            if band.get(key):
                yield band[key][-1]


def bench_outputs(root: Path, folder: str) -> list[Path]:
    """The bench outputs in `folder` and its `results/` subfolder, scripts aside."""
    found = [*root.glob(f"{folder}/*"), *root.glob(f"{folder}/results/*")]
    return [p for p in sorted(found) if p.is_file() and p.suffix not in {".py", ".pyc"}]


def load_sources(root: Path, domains: Iterable[str] | None = None) -> Sources:
    """The numbers of the boards, bench outputs and scenario files of `domains` (every
    plugin when None), with the core's, the reference numbers and the pinned versions."""
    wanted = None if domains is None else set(domains)
    values: list[float] = []
    boards = []
    for path in sorted(root.glob("leaderboards/*/*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(board, dict) or "entries" not in board:
            continue
        if wanted is None or board["scenario"].split("/")[0] in wanted:
            boards.append(board)
            values += [float(v) for v in _board_numbers(board) if isinstance(v, int | float)]
    packages = [p for p in sorted(root.glob("packages/*")) if wanted is None or p.name in wanted]
    texts = [root / "docs" / "references.md", root / "constraints.txt", root / "pyproject.toml"]
    texts += sorted(root.glob("shared/src/assay/scenarios/*.toml"))
    texts += bench_outputs(root, "*/bench")
    for package in packages:
        texts.append(package / "pyproject.toml")
        texts += sorted(package.glob("src/*/scenarios/*.toml"))
        texts += bench_outputs(package, "bench")
    for path in texts:
        if path.is_file():
            values += list(numbers_in(path.read_text(encoding="utf-8", errors="replace")))
    finite = sorted({abs(v) for v in values if math.isfinite(v)})
    return Sources(finite, boards)


def prose(text: str) -> str:
    """The README without what the checks do not read: include blocks (compared whole),
    code, HTML comments and link targets."""
    for pattern in (INCLUDE, _FENCE, _COMMENT, _CODE, _URL):
        text = pattern.sub(lambda m: " " + "\n" * m[0].count("\n"), text)  # lines kept
    return text


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9]+", " ", text.lower()) + " "


def _short(model: str) -> str:
    return _words(model.rsplit(".", 1)[-1]).strip()


GENERIC = frozenset({"random", "mean", "majority"})
"""Control entries named like plain words ("a random split"): not read from prose."""


def _named(words: str, models: Iterable[str]) -> set[str]:
    """The entries a sentence names, longest names first, so `random forest` is not
    also read as another entry."""
    found = set()
    for model in sorted(models, key=lambda m: -len(_short(m))):
        key = f" {_short(model)} "
        if _short(model) not in GENERIC and key in words:
            found.add(model)
            words = words.replace(key, " _ ")
    return found


def tie_problems(text: str, boards: Sequence[Mapping[str, Any]]) -> list[str]:
    """Sentences that claim a tie among entries no board ranks alike."""
    problems = []
    for sentence in _SENTENCE.split(text):
        if not _TIE.search(sentence):
            continue
        words = _words(sentence)
        ranks = [{e["model"]: e.get("rank") for e in b["entries"]} for b in boards]
        named_on = [{m: r[m] for m in _named(words, r)} for r in ranks]
        names = {_short(m) for named in named_on for m in named}
        if len(names) < 2:
            continue
        holds = any(
            {_short(m) for m in named} == names and len(set(named.values())) == 1
            for named in named_on
        )
        if not holds:
            claim = " ".join(sentence.split())
            problems.append(f"a tie no board shows ({', '.join(sorted(names))}): {claim[:160]}")
    return problems


def check_readme(readme: Path, sources: Sources) -> list[str]:
    """Every problem of one README, one line each (empty when it quotes only what the
    committed files hold)."""
    problems = [
        f"{readme}: the include of {path} differs from the file; run "
        f"`python -m assay.publish.results_text {readme}`"
        for path, body, want in included(readme)
        if body != want
    ]
    text = prose(readme.read_text(encoding="utf-8"))
    for line_no, line in enumerate(text.splitlines(), start=1):
        for match in NUMBER.finditer(line):
            after = line[match.end() : match.end() + 2]
            if not sources.holds(match[0], _parse(match), percent="%" in after):
                problems.append(
                    f"{readme}:{line_no}: {match[0]} is in no board, bench or reference file"
                )
    problems += [f"{readme}: {p}" for p in tie_problems(text, sources.boards)]
    return problems


def check_repository(root: Path) -> list[str]:
    """`README.md` against everything; each plugin's README against its own boards,
    bench outputs and scenarios (with the core's and the reference numbers)."""
    problems = check_readme(root / "README.md", load_sources(root))
    for readme in sorted(root.glob("packages/*/README.md")):
        problems += check_readme(readme, load_sources(root, [readme.parent.name, "core"]))
    return problems
