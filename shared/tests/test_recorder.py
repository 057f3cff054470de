"""Records written beside the next units' work: in order, all of them, failures raised."""

from __future__ import annotations

import threading

import pytest
from assay.engine.executors import SerialExecutor
from assay.engine.recorder import Recorder
from assay.engine.runner import GridEntry, plan_grid, run_grid
from assay.engine.tracking import Tracker
from assay.plugin import Catalog
from assay.spec import ModelEntry


def test_background_records_are_written_in_order_by_another_thread() -> None:
    written: list[tuple[int, str]] = []
    with Recorder(background=True, depth=2) as recorder:
        for n in range(10):
            recorder.submit(lambda n=n: written.append((n, threading.current_thread().name)))
    assert [n for n, _ in written] == list(range(10))  # all of them, by the time it is left
    assert {name for _, name in written} == {"assay-recorder"}


def test_in_line_records_are_written_at_once() -> None:
    written: list[int] = []
    with Recorder(background=False) as recorder:
        recorder.submit(lambda: written.append(1))
        assert written == [1]


def test_a_failed_record_is_raised_in_the_driver_and_stops_the_records_after_it() -> None:
    written: list[int] = []

    def fail() -> None:
        raise RuntimeError("the server said no")

    def record_three() -> None:
        with Recorder(background=True) as recorder:
            recorder.submit(lambda: written.append(1))
            recorder.submit(fail)
            recorder.submit(lambda: written.append(3))

    with pytest.raises(RuntimeError, match="the server said no"):
        record_three()
    assert written == [1]


def test_records_handed_in_are_written_when_the_driver_is_interrupted() -> None:
    written: list[int] = []
    release = threading.Event()

    def interrupted() -> None:
        with Recorder(background=True) as recorder:
            recorder.submit(lambda: (release.wait(5), written.append(1)))
            recorder.submit(lambda: written.append(2))
            release.set()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert written == [1, 2]


def test_a_grid_recorded_in_the_background_equals_one_recorded_in_line(
    installed_catalog: Catalog,
) -> None:
    """The runner's background path (a server's) over a local store: every unit recorded
    once, each entry summed up on its parent after its last unit."""
    entry = GridEntry(
        "testplugin/tiny@1",
        [ModelEntry(name="mean"), ModelEntry(name="mean", label="again")],
        [0, 1, 2],
    )
    tasks = plan_grid(installed_catalog, [entry], "quick")
    tracker = Tracker()
    tracker.remote = True
    report = run_grid(installed_catalog, tasks, SerialExecutor(installed_catalog), tracker)
    assert not report.failures
    assert len(report.results) == len(tasks)
    assert report.shared == len(tasks) // 2  # the second label's units are copies of the first's
    experiment = tracker.experiment_id(installed_catalog.scenario("testplugin/tiny").spec)
    units = tracker.client.search_runs([experiment], "tags.`assay.kind` = 'unit'")
    assert sorted(r.info.status for r in units) == ["FINISHED"] * len(tasks)
    assert len(
        {(r.data.tags["assay.parent_key"], r.data.tags["assay.run_key"]) for r in units}
    ) == len(tasks)
    parents = tracker.client.search_runs([experiment], "tags.`assay.kind` = 'parent'")
    assert sorted(p.data.tags["assay.units"] for p in parents) == [str(len(tasks) // 2)] * 2
    assert all(p.info.status == "FINISHED" for p in parents)
