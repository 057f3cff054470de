"""Publishing boards: the one library function behind `assay leaderboard build` and
`assay suite run --board`.

Run records under `OUT/records` are imported first into a store that lacks them, so
a fresh clone rebuilds the same boards without rerunning anything; then the boards
(Markdown, JSON, PNG), the site when asked, and the records behind every board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from assay.engine.runner import entries_from_suite
from assay.errors import AssayError
from assay.plugin import Catalog
from assay.publish.board import Board
from assay.publish.leaderboard import build_boards
from assay.publish.records import import_records, write_records
from assay.publish.rendering import write_boards
from assay.spec import ModelEntry, Size, SuiteSpec


@dataclass
class Published:
    boards: list[Board]
    written: list[Path] = field(default_factory=list)
    imported: int = 0
    """Unit runs imported from the records into the store before building."""


def publish_boards(
    client: MlflowClient,
    catalog: Catalog,
    out: Path,
    *,
    suite: SuiteSpec | None = None,
    size: Size = "standard",
    html: bool = False,
    records: bool = True,
) -> Published:
    """Build and write the boards of a suite's entries (or of every tracked entry at
    `size`) under `out`; one line (AssayError) when no run is tracked."""
    imported = import_records(client, out)
    wanted: list[tuple[str, list[ModelEntry] | None]]
    if suite is not None:
        size = suite.size
        entries, _ = entries_from_suite(suite, catalog)
        wanted = [(e.scenario, list(e.models)) for e in entries]
    else:
        wanted = [(key, None) for key in sorted(catalog.scenarios)]
    boards: list[Board] = []
    for ref, models in wanted:
        spec = catalog.scenario(ref).spec
        metrics = {m.name: catalog.metrics.get(m.name) for m in spec.metrics}
        boards += build_boards(client, spec, size, models, metrics)
    if not boards:
        raise AssayError("no tracked runs to build a leaderboard from: run `assay suite run` first")
    written = write_boards(boards, out)
    if html:
        from assay.publish.site import write_site

        written += write_site(boards, out)
    if records:  # a scenario's records hold the runs of all its boards
        by_scenario: dict[str, list[Any]] = {}
        for board in boards:
            by_scenario.setdefault(board.scenario, []).extend(board.unit_runs)
        for scenario, runs in by_scenario.items():
            written += write_records(client, scenario, runs, out)
    return Published(boards, written, imported)
