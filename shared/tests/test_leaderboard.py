from __future__ import annotations

import pytest
from assay.leaderboard import Entry, rank_entries, significantly_different, summarise


def entry(model: str, values: list[float]) -> Entry:
    keyed = {f"f{i}": v for i, v in enumerate(values)}
    return Entry(
        model,
        0,
        {"rmse": summarise(values)},
        None,
        0.0,
        0.0,
        len(values),
        0,
        values={"rmse": keyed},
    )


def test_summary_interval() -> None:
    summary = summarise([1.0, 2.0, 3.0])
    assert summary.mean == 2.0
    assert summary.std == 1.0
    assert summary.n == 3
    assert summary.ci95[0] == pytest.approx(2.0 - 4.302653 / 3**0.5, rel=1e-5)
    assert summarise([5.0]).ci95 == (5.0, 5.0)


def test_paired_test() -> None:
    assert significantly_different({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 2.0, "b": 3.0, "c": 4.0})
    assert not significantly_different(
        {"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 1.1, "b": 1.9, "c": 3.05}
    )
    assert not significantly_different({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0})


def test_ranks_share_ties_and_skip() -> None:
    ranked = rank_entries(
        [
            entry("worst", [5.0, 5.1, 4.9, 5.0]),
            entry("best", [1.0, 1.2, 0.9, 1.1]),
            entry("close", [1.05, 1.1, 1.0, 1.1]),
            entry("middle", [2.0, 2.1, 2.2, 1.9]),
        ],
        "rmse",
        maximize=False,
    )
    assert [(e.model, e.rank) for e in ranked] == [
        ("best", 1),
        ("close", 1),
        ("middle", 3),
        ("worst", 4),
    ]
