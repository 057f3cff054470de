"""The results text generated from boards, the README checks, and what a board says
about entries that gave one result on every seed or a negative control that ties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assay.evaluation.stats import DETERMINISTIC, interval_text, seed_summary, seeds_differ
from assay.publish.results_check import Sources, check_readme, load_sources, tie_problems
from assay.publish.results_text import (
    board_notes,
    refresh_includes,
    relinked,
    scenario_results,
    write_results,
)


def _summary(
    mean: float, ci: list[float] | None, method: str = "t-test", n: int = 10
) -> dict[str, Any]:
    return {"mean": mean, "std": 0.1, "ci95": ci, "n": n, "method": method}


def _board(scenario: str, entries: list[tuple[str, int, float]], **extra: Any) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "version": "1",
        "title": "A board",
        "size": "standard",
        "primary": "r",
        "direction": "maximize",
        "method": "a test",
        "negative_control": "mean",
        "references": [
            {
                "model": "paper",
                "metric": "r",
                "value": 0.5,
                "citation": "X 2020",
                "note": "other data",
            }
        ],
        "entries": [
            {"model": m, "rank": rank, "metrics": {"r": _summary(v, [v - 0.05, v + 0.05])}}
            for m, rank, v in entries
        ],
        **extra,
    }


def _write_boards(root: Path, boards: list[dict[str, Any]]) -> None:
    for board in boards:
        path = root / "leaderboards" / f"{board['scenario']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(board), encoding="utf-8")


BREEDING = _board(
    "breeding/h2-05",
    [("breeding.bayesc", 1, 0.777), ("breeding.gblup", 1, 0.769), ("breeding.rkhs", 3, 0.755)],
)


def test_a_constant_result_over_seeds_is_deterministic_with_no_interval() -> None:
    constant = {("r0f0", s): 0.6 + (1e-16 if s % 2 else 0.0) for s in range(10)}
    summary = seed_summary(constant)
    assert summary.ci95 is None
    assert summary.method == DETERMINISTIC
    assert interval_text(summary) == "deterministic"
    varied = {("r0f0", s): 0.2 + 0.02 * s for s in range(10)}
    assert seed_summary(varied).ci95 is not None
    # Against seeds that vary, the paired test is a one-sample test on their results.
    assert seeds_differ(constant, varied)
    # Two deterministic entries: the seeds carry nothing to separate them.
    other = {("r0f0", s): 0.3 for s in range(10)}
    assert not seeds_differ(constant, other)


def test_notes_say_when_a_board_separates_nothing_and_name_deterministic_entries() -> None:
    board = _board("lifesci/p", [("lifesci.knn", 1, 0.68), ("mean", 1, 0.03)])
    board["entries"][0]["metrics"]["r"]["method"] = DETERMINISTIC
    notes = board_notes(board)
    assert any("`lifesci.knn` gave the same r on every seed" in n for n in notes)
    assert any("does not separate the models" in n and "`mean`" in n for n in notes)
    assert board_notes(BREEDING) == []


def test_a_fit_resumed_from_its_checkpoint_says_its_fit_time_is_its_last_sitting() -> None:
    board = _board("hep/t", [("hep.particlenet", 1, 0.98), ("hep.pfn", 2, 0.97)])
    board["entries"][0]["resumed"] = "7"
    [note] = board_notes(board)
    assert note.startswith("`hep.particlenet` trained over more than one sitting")
    assert "at epoch 7" in note
    assert "fit s counts only the last sitting" in note


def test_the_results_text_names_every_tie_interval_and_reference(tmp_path: Path) -> None:
    text = scenario_results(BREEDING)
    assert "| 1= | breeding.bayesc | 0.777 ± 0.1 [0.727, 0.827] |" in text
    assert "| 3 | breeding.rkhs |" in text
    assert (
        "Tied for first (the test does not separate them): breeding.bayesc, breeding.gblup." in text
    )
    assert "paper: r 0.5 (X 2020; other data)" in text
    stale = scenario_results(BREEDING, stale=True)
    assert "Not rebuilt" in stale
    assert "| 1= |" not in stale


def test_build_writes_a_results_file_per_plugin_and_an_index(tmp_path: Path) -> None:
    out = tmp_path / "leaderboards"
    other = _board("quantum/q", [("quantum.gnn", 1, 0.9), ("mean", 2, 0.1)])
    _write_boards(tmp_path, [BREEDING, other])
    written = write_results(out, ["quantum/q", "breeding/h2-05"], {"quantum/q"})
    assert {p.relative_to(out).as_posix() for p in written} == {
        "quantum/RESULTS.md",
        "breeding/RESULTS.md",
        "RESULTS.md",
    }
    index = (out / "RESULTS.md").read_text(encoding="utf-8")
    assert index.index("quantum/q") < index.index("breeding/h2-05")  # the build's order first
    assert "| quantum.gnn | 0.9 ± 0.1 [0.85, 0.95] | mean 0.1 |" in index
    assert "not rebuilt" in index  # breeding's board was left by an earlier build


def test_an_include_block_is_copied_with_its_links_fixed(tmp_path: Path) -> None:
    source = tmp_path / "leaderboards" / "quantum" / "RESULTS.md"
    source.parent.mkdir(parents=True)
    source.write_text("see [q](q.md) and [all](../RESULTS.md#x)\n", encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- include: leaderboards/quantum/RESULTS.md -->\nold\n<!-- end include -->\nend\n",
        encoding="utf-8",
    )
    assert refresh_includes(readme)
    assert "see [q](leaderboards/quantum/q.md) and [all](leaderboards/RESULTS.md#x)\n<!-- end" in (
        readme.read_text(encoding="utf-8")
    )
    assert not refresh_includes(readme)  # already current
    assert relinked("[a](a.md)", tmp_path / "x", tmp_path) == "[a](x/a.md)"


def _sources(tmp_path: Path, boards: list[dict[str, Any]]) -> Sources:
    _write_boards(tmp_path, boards)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "references.md").write_text(
        "FCI -1.1373060 Ha; 3.028 %\n", encoding="utf-8"
    )
    return load_sources(tmp_path)


def test_a_readme_may_quote_board_and_reference_numbers_at_its_own_precision(
    tmp_path: Path,
) -> None:
    sources = _sources(tmp_path, [BREEDING])
    readme = tmp_path / "README.md"
    readme.write_text(
        "BayesC 0.777 [0.727, 0.827] and GBLUP 0.77 tie; FCI -1.1373060 Ha; Google 3.028 % "
        "(0.03028). Code is not read: `p=0.123456`.\n\n```\n9.87654\n```\n",
        encoding="utf-8",
    )
    assert check_readme(readme, sources) == []


def test_a_number_edited_by_hand_fails(tmp_path: Path) -> None:
    sources = _sources(tmp_path, [BREEDING])
    readme = tmp_path / "README.md"
    readme.write_text("BayesC reaches 0.787 here.\n", encoding="utf-8")
    problems = check_readme(readme, sources)
    assert problems == [f"{readme}:1: 0.787 is in no board, bench or reference file"]


def test_a_bench_output_in_a_results_folder_is_a_source_and_its_script_is_not(
    tmp_path: Path,
) -> None:
    results = tmp_path / "packages" / "materials" / "bench" / "results"
    results.mkdir(parents=True)
    (results / "steels.txt").write_text("fold 0: MAE 121.90\n", encoding="utf-8")
    (results.parent / "measure.py").write_text("PUBLISHED = 107.3160\n", encoding="utf-8")
    sources = _sources(tmp_path, [BREEDING])
    readme = tmp_path / "README.md"
    readme.write_text("Fold 0 scored 121.90 against 107.32.\n", encoding="utf-8")
    assert check_readme(readme, sources) == [
        f"{readme}:1: 107.32 is in no board, bench or reference file"
    ]


def test_a_tie_the_board_does_not_show_fails() -> None:
    boards = [BREEDING]
    assert tie_problems("GBLUP and BayesC tie.", boards) == []
    problems = tie_problems("GBLUP, BayesC and RKHS tie.", boards)
    assert len(problems) == 1
    assert "bayesc, gblup, rkhs" in problems[0]
    # A tie that holds on one board but is claimed across two names no board ranks alike.
    assert tie_problems("The random forest ties with GBLUP.", boards) == []  # one name only


def test_an_edited_include_block_fails(tmp_path: Path) -> None:
    sources = _sources(tmp_path, [BREEDING])
    out = tmp_path / "leaderboards"
    write_results(out, ["breeding/h2-05"], {"breeding/h2-05"})
    readme = tmp_path / "README.md"
    readme.write_text(
        "<!-- include: leaderboards/breeding/RESULTS.md -->\n<!-- end include -->\n",
        encoding="utf-8",
    )
    refresh_includes(readme)
    assert check_readme(readme, sources) == []
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace("0.777 ± 0.1", "0.787 ± 0.1"), encoding="utf-8")
    problems = check_readme(readme, sources)
    assert len(problems) == 1
    assert "the include of leaderboards/breeding/RESULTS.md differs" in (problems[0])


def test_a_board_names_the_suite_entries_it_still_lacks() -> None:
    board = _board("x/y", [("a", 1, 0.9)], pending=["b-60-epochs"])
    notes = board_notes(board)
    assert any("Incomplete" in n and "`b-60-epochs`" in n for n in notes)
    assert not any("Incomplete" in n for n in board_notes(_board("x/y", [("a", 1, 0.9)])))
