"""A metric value that is only a bound (1/eps_B capped where no background passes) is
shown as one: `≤ 50` / `≥ 222` in the run table, the boards, their JSON and the site,
also after the boards are rebuilt from run records in a fresh store."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from assay.engine.executors import make_executor
from assay.engine.runner import GridEntry, plan_grid, run_grid
from assay.engine.tracking import Tracker
from assay.evaluation.metrics import Bound, Metric, bound_info, combined_bound
from assay.evaluation.predictions import Predictions
from assay.evaluation.stats import fmt_mean_std
from assay.plugin import Catalog, discover
from assay.publish.board import BOUND_NOTE
from assay.publish.leaderboard import build_board
from assay.publish.records import import_records, write_records
from assay.publish.rendering import board_markdown
from assay.publish.site import board_page, index_page
from assay.spec import ModelEntry

FLOOR = 50.0
SCENARIO = "testplugin/tiny-holdout"


def floored_mae(y: np.ndarray[Any, Any], p: Predictions) -> float:
    """An MAE that cannot resolve errors under 50: those read `≤ 50` (a stand-in for a
    capped metric; ridge on diabetes scores about 45, the mean about 65)."""
    value = float(np.mean(np.abs(y - np.asarray(p.values))))
    return Bound(FLOOR, "upper") if value < FLOOR else value


@pytest.fixture
def catalog() -> Catalog:
    catalog = discover()
    floored = Metric("mae", "minimize", floored_mae, "floored MAE", (0.0, math.inf))
    catalog.metrics.register("mae", floored, replace=True)
    return catalog


def test_bound_values_survive_pickling_and_combine() -> None:
    import pickle

    value = pickle.loads(pickle.dumps(Bound(222.0, "lower")))
    assert isinstance(value, Bound)
    assert (float(value), value.side) == (222.0, "lower")
    assert bound_info({"a": value, "b": 3.0}) == {"bound.a": "lower"}
    assert combined_bound([None, "lower", "lower"]) == "lower"
    assert combined_bound([None, None]) == ""
    assert combined_bound(["lower", "upper"]) == ""  # no claim either way
    assert fmt_mean_std(222.0, float("nan"), bound="lower") == "≥ 222"
    assert fmt_mean_std(222.0, 3.0, bound="lower") == "≥ 222 ± 3"
    assert fmt_mean_std(float("nan"), 3.0, bound="lower") == "-"


def test_a_bound_is_shown_as_one_in_tables_boards_site_and_records(
    catalog: Catalog, tmp_path: Path
) -> None:
    models = [ModelEntry(name="mean"), ModelEntry(name="ridge")]
    tasks = plan_grid(catalog, [GridEntry(SCENARIO, models)], "quick")
    tracker = Tracker()
    report = run_grid(catalog, tasks, make_executor("serial", catalog=catalog), tracker)
    assert not report.failures
    rows = {row["model"]: row["metrics"] for row in report.summary()}
    assert rows["ridge"]["mae"]["bound"] == "upper"  # type: ignore[index]
    assert "bound" not in rows["mean"]["mae"]  # type: ignore[operator]
    assert "bound" not in rows["ridge"]["rmse"]  # type: ignore[operator]

    spec = catalog.scenario(SCENARIO).spec
    metrics = {m.name: catalog.metrics.get(m.name) for m in spec.metrics}

    def check(board: Any) -> None:
        by_model = {e.model: e for e in board.entries}
        assert by_model["ridge"].metrics["mae"].bound == "upper"
        assert by_model["mean"].metrics["mae"].bound == ""
        markdown = board_markdown(board)
        ridge_row = next(line for line in markdown.splitlines() if "| ridge |" in line)
        assert "| ≤ 50 [" in ridge_row
        assert BOUND_NOTE in markdown
        entries = {e["model"]: e for e in board.to_json()["entries"]}
        assert entries["ridge"]["metrics"]["mae"]["bound"] == "upper"
        assert "bound" not in entries["ridge"]["metrics"]["rmse"]  # absent, not empty
        page = board_page(board, tmp_path / "site")
        rows = {
            model: next(r for r in page.split("</tr>") if f"<code>{model}</code>" in r)
            for model in ("ridge", "mean")
        }
        assert "≤ 50 [" in rows["ridge"]
        assert "≤" not in rows["mean"]

    board = build_board(tracker.client, spec, "quick", metrics=metrics)
    assert board is not None
    check(board)
    json.dumps(board.to_json())

    # A fresh store with only the run records: the bound comes back with them.
    write_records(tracker.client, spec.id, board.unit_runs, tmp_path / "boards")
    fresh = Tracker(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert import_records(fresh.client, tmp_path / "boards") == len(board.unit_runs)
    rebuilt = build_board(fresh.client, spec, "quick", metrics=metrics)
    assert rebuilt is not None
    check(rebuilt)
    assert rebuilt.to_json()["entries"] == board.to_json()["entries"]


def test_the_index_shows_a_bound_best_score(catalog: Catalog, tmp_path: Path) -> None:
    tasks = plan_grid(catalog, [GridEntry(SCENARIO, [ModelEntry(name="ridge")])], "quick")
    tracker = Tracker()
    run_grid(catalog, tasks, make_executor("serial", catalog=catalog), tracker)
    spec = catalog.scenario(SCENARIO).spec
    floored = spec.model_copy(update={"metrics": [spec.metrics[1], spec.metrics[0]]})
    metrics = {m.name: catalog.metrics.get(m.name) for m in spec.metrics}
    board = build_board(tracker.client, floored, "quick", metrics=metrics)
    assert board is not None
    assert board.primary == "mae"
    assert "≤ 50 [" in index_page([board], tmp_path / "site")
