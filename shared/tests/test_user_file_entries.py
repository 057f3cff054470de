"""What a team running its own files sees: every unit of an entry summarised, a board per
data file, runs on some folds kept apart, models refused when the data lack their inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay.builtin import plugin as core_plugin
from assay.engine.executors import make_executor
from assay.engine.runner import GridEntry, GridReport, plan_grid, run_grid
from assay.engine.tracking import Tracker
from assay.errors import AssayError, DataError
from assay.evaluation.models import MeanModel
from assay.evaluation.requirements import Requirement, requires
from assay.evaluation.stats import describe
from assay.plugin import Catalog, Plugin
from assay.publish.board import QUICK_NOTE
from assay.publish.leaderboard import build_board, build_boards
from assay.publish.rendering import board_markdown, write_boards
from assay.spec import ModelEntry

TABLE = "testplugin/table-file@1"


def table_csv(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(30, 2))
    y, z = x @ [1.0, -1.0] + rng.normal(scale=0.2, size=30), 2 * x[:, 0]
    rows = [
        "a,b,y,z",
        *(f"{a:.5f},{b:.5f},{v:.5f},{w:.5f}" for (a, b), v, w in zip(x, y, z, strict=True)),
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def run(
    catalog: Catalog,
    tracker: Tracker,
    models: list[str],
    folds: list[int] | None = None,
    **source: str,
) -> GridReport:
    entry = GridEntry(TABLE, [ModelEntry(name=m) for m in models], None, source, folds=folds)
    tasks = plan_grid(catalog, [entry], "quick")
    return run_grid(catalog, tasks, make_executor("serial", catalog=catalog), tracker)


def rows(report: GridReport) -> dict[str, dict[str, object]]:
    return {str(r["model"]): r for r in report.summary()}


def test_a_resumed_or_repeated_run_summarises_every_unit_of_its_entries(
    installed_catalog: Catalog, tmp_path: Path
) -> None:
    tracker, data = Tracker(), str(table_csv(tmp_path / "a.csv"))
    first = run(installed_catalog, tracker, ["ridge"], folds=[0], path=data)
    assert rows(first)["ridge"]["units"] == 1
    resumed = run(installed_catalog, tracker, ["ridge"], path=data)
    assert (resumed.skipped, len(resumed.results)) == (1, 2)
    stored = tracker.client.search_runs(
        [tracker.experiment_id(installed_catalog.scenario(TABLE).spec)],
        "tags.`assay.kind` = 'unit'",
    )
    by_unit = {(r.data.tags["assay.unit"], 0): r.data.metrics["rmse"] for r in stored}
    summary = rows(resumed)["ridge"]
    assert summary["units"] == 3
    assert summary["metrics"]["rmse"]["mean"] == pytest.approx(describe(by_unit)[0])  # type: ignore[index]
    again = run(installed_catalog, tracker, ["ridge"], path=data)  # all done: read back
    assert (again.skipped, again.results) == (3, [])
    assert rows(again)["ridge"]["metrics"] == summary["metrics"]


def test_folds_run_a_subset_listed_apart_until_every_fold_has_run(
    installed_catalog: Catalog, tmp_path: Path
) -> None:
    tracker, data = Tracker(), str(table_csv(tmp_path / "a.csv"))
    spec = installed_catalog.scenario(TABLE).spec
    full = plan_grid(installed_catalog, [GridEntry(TABLE, [ModelEntry(name="ridge")])], "quick")
    chosen = plan_grid(
        installed_catalog, [GridEntry(TABLE, [ModelEntry(name="ridge")], folds=[0, 2])], "quick"
    )
    assert [t.unit for t in chosen] == [full[0].unit, full[2].unit]
    assert [t.run_key for t in chosen] == [full[0].run_key, full[2].run_key]  # keys unchanged
    with pytest.raises(
        AssayError, match=r"--folds 3: .* has 3 units at this size, numbered 0 to 2"
    ):
        plan_grid(
            installed_catalog, [GridEntry(TABLE, [ModelEntry(name="ridge")], folds=[3])], "quick"
        )

    run(installed_catalog, tracker, ["mean"], path=data)
    run(installed_catalog, tracker, ["ridge"], folds=[0, 2], path=data)
    board = build_board(tracker.client, spec, "quick")
    assert board is not None
    entries = {e.model: e for e in board.entries}
    assert entries["ridge"].partial == "folds 0,2 of 3"
    assert entries["ridge"].rank is None
    assert entries["mean"].rank == 1
    assert "- `ridge`: folds 0,2 of 3 (2 units)" in board_markdown(board)
    assert board.to_json()["entries"][1]["partial"] == "folds 0,2 of 3"
    assert "partial" not in board.to_json()["entries"][0]  # unset: not written

    run(installed_catalog, tracker, ["ridge"], folds=[1], path=data)
    board = build_board(tracker.client, spec, "quick")
    assert board is not None
    ridge = next(e for e in board.entries if e.model == "ridge")
    assert (ridge.partial, ridge.units, ridge.rank) == ("", 3, 1)


def test_a_user_file_scenario_keeps_a_board_per_data_file(
    installed_catalog: Catalog, tmp_path: Path
) -> None:
    tracker, data = Tracker(), str(table_csv(tmp_path / "a.csv"))
    spec = installed_catalog.scenario(TABLE).spec
    run(installed_catalog, tracker, ["mean", "ridge"], path=data)
    run(installed_catalog, tracker, ["mean", "ridge"], path=data, target="z")  # another trait
    boards = build_boards(tracker.client, spec, "quick")
    assert len(boards) == 2
    newest, earlier = boards
    assert build_board(tracker.client, spec, "quick") is not None  # one board: the newest
    assert newest.data_sha != earlier.data_sha
    assert (newest.data_file, earlier.data_file) == ("a.csv", "a.csv")
    assert newest.slug == "testplugin/table-file"
    assert earlier.slug == f"testplugin/table-file--a_csv-{earlier.data_sha[:8]}"
    for board in boards:
        text = board_markdown(board)
        assert f"Data: `a.csv` (sha256 `{board.data_sha[:16]}`)" in text
        assert QUICK_NOTE not in text  # the user's data at both sizes: not a smoke test
        assert not board.smoke_test
    out = tmp_path / "boards"
    write_boards(boards, out)
    index = (out / "README.md").read_text()
    for board in boards:
        assert (out / f"{board.slug}.md").is_file()
        assert f"[testplugin/table-file (a.csv, sha256 {board.data_sha[:8]})]" in index


def test_two_different_files_of_one_scenario_keep_a_board_each(
    installed_catalog: Catalog, tmp_path: Path
) -> None:
    tracker = Tracker()
    spec = installed_catalog.scenario(TABLE).spec
    first = str(table_csv(tmp_path / "plots-2025.csv", seed=1))
    second = str(table_csv(tmp_path / "plots-2026.csv", seed=2))
    run(installed_catalog, tracker, ["mean", "ridge"], path=first)
    run(installed_catalog, tracker, ["mean", "ridge"], path=second)
    boards = build_boards(tracker.client, spec, "quick")
    assert [b.data_file for b in boards] == ["plots-2026.csv", "plots-2025.csv"]  # newest first
    newest, earlier = boards
    assert newest.data_sha != earlier.data_sha
    assert newest.slug == "testplugin/table-file"
    assert earlier.slug == f"testplugin/table-file--plots-2025_csv-{earlier.data_sha[:8]}"
    for board in boards:
        assert {e.model for e in board.entries} == {"mean", "ridge"}
        assert all(e.units == 3 for e in board.entries)
        text = board_markdown(board)
        assert f"Data: `{board.data_file}` (sha256 `{board.data_sha[:16]}`)" in text
    ridge = [next(e for e in b.entries if e.model == "ridge") for b in boards]
    assert ridge[0].metrics != ridge[1].metrics  # each board holds its own file's runs
    out = tmp_path / "boards"
    write_boards(boards, out)
    index = (out / "README.md").read_text()
    for board in boards:
        assert (out / f"{board.slug}.md").is_file()
        label = f"{board.data_file}, sha256 {board.data_sha[:8]}"
        assert f"[testplugin/table-file ({label})]" in index


def test_a_folder_where_a_file_is_read_and_a_file_where_a_folder_is_read_are_one_line(
    installed_catalog: Catalog, tmp_path: Path
) -> None:
    table = installed_catalog.source("testplugin.table")
    with pytest.raises(
        DataError, match=r"^testplugin.table: .* is a folder; this source reads a file"
    ):
        table.validate_params({"path": str(tmp_path)})
    folder_source = type(table)()
    folder_source.reads_folder = True  # type: ignore[misc]
    file = table_csv(tmp_path / "a.csv")
    with pytest.raises(DataError, match=r"is a file; this source reads a folder"):
        folder_source.validate_params({"path": str(file)})


class NeedsLetters(MeanModel):
    pass


LETTERS = Requirement(
    "letters",
    lambda d: None if isinstance(d.inputs[0], str) else f"row 0 is {type(d.inputs[0]).__name__}",
    hint="give it text",
)
requires(LETTERS)(NeedsLetters)


def test_a_model_is_refused_before_anything_runs_when_the_data_lack_its_inputs() -> None:
    catalog = Catalog.from_plugins(
        [core_plugin, Plugin(name="needs", version="0", models={"needs.letters": NeedsLetters})]
    )
    entry = GridEntry("core/diabetes", [ModelEntry(name="mean"), ModelEntry(name="needs.letters")])
    with pytest.raises(
        DataError,
        match=r"^model needs.letters needs letters, which the data of core/diabetes lack "
        r"\(row 0 is ndarray\); give it text$",
    ):
        plan_grid(catalog, [entry], "quick")
    assert plan_grid(catalog, [GridEntry("core/diabetes", [ModelEntry(name="mean")])], "quick")
