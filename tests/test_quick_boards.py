"""Over the quick boards: every model beats its scenario's negative control.

The `boards` tier: `nox -s quick` selects it (`-m boards`) over the boards it
has just written (build/leaderboards-quick, or ASSAY_QUICK_BOARDS); a plain
run leaves it out, since there are no quick boards to check. A model that cannot learn at quick size is left out of
scenarios/quick.toml with a comment saying why, rather than shown losing to
the control on a board that only smoke-tests the harness.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

BOARDS = Path(
    os.environ.get("ASSAY_QUICK_BOARDS", Path(__file__).parents[1] / "build" / "leaderboards-quick")
)

pytestmark = pytest.mark.boards


def _boards() -> list[Path]:
    return sorted(BOARDS.glob("*/*.json"))


def _mean(entry: dict[str, Any], metric: str) -> float | None:
    summary = entry["metrics"].get(metric)
    return None if summary is None else float(summary["mean"])


def _losers(board: dict[str, Any]) -> list[str]:
    """Models whose primary mean is not strictly better than the negative control's."""
    control = board.get("negative_control")
    by_model = {e["model"]: e for e in board["entries"]}
    if not control or control not in by_model:
        return []
    primary, maximize = board["primary"], board["direction"] == "maximize"
    baseline = _mean(by_model[control], primary)
    if baseline is None:
        return []
    losers = []
    for model, entry in by_model.items():
        score = _mean(entry, primary)
        if model == control or entry.get("failures"):
            continue
        if score is None or not (score > baseline if maximize else score < baseline):
            losers.append(f"{model} ({primary} {score} against {control}'s {baseline})")
    return losers


def test_there_are_quick_boards() -> None:
    assert _boards(), f"no board JSON under {BOARDS}"


@pytest.mark.parametrize("path", _boards(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_quick_model_beats_the_negative_control(path: Path) -> None:
    board = json.loads(path.read_text())
    assert board["size"] == "quick"
    assert not _losers(board), f"{board['scenario']}: " + "; ".join(_losers(board))
