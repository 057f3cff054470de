"""A leaderboard as data: its entries (one per model, label and parameters) with their
metric summaries, and the board around them, as written to JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from assay.evaluation.stats import (
    Band,
    MetricSummary,
)

QUICK_NOTE = (
    "Quick size is a smoke test of the harness on little data, not a ranking: "
    "see the standard boards for results."
)


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
    resumed: str = ""
    """The epochs (`7`, or `3, 12`) at which the torch fits of this entry's units went on
    from a checkpoint after a stop: their `fit_seconds` count only the last sitting."""

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


_ONLY_WHEN_SET = frozenset({"data_file", "variant", "partial", "pending", "bound", "resumed"})
"""Fields written to the JSON only when set (boards of user files, `--folds` entries), so
every other board keeps the bytes it had before they existed."""


def _without_runs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in items if k != "unit_runs" and (v or k not in _ONLY_WHEN_SET)}
