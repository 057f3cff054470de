"""Drivers sharing a store: claims, owners, duplicates, parents, a store's first use."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import psutil
import pytest
from assay.engine import ownership
from assay.engine.runner import GridEntry, plan_grid
from assay.engine.store import open_store
from assay.engine.tracking import Tracker
from assay.engine.units import UnitTask, execute_unit
from assay.errors import AssayError
from assay.plugin import Catalog
from assay.spec import ModelEntry


def one_unit(catalog: Catalog) -> UnitTask:
    entry = GridEntry("testplugin/tiny@1", [ModelEntry(name="mean")], [0])
    return plan_grid(catalog, [entry], "quick")[0]


def unit_runs(tracker: Tracker, catalog: Catalog) -> dict[str, object]:
    experiment = tracker.experiment_id(catalog.scenario("testplugin/tiny").spec)
    runs = tracker.client.search_runs([experiment], "tags.`assay.kind` = 'unit'")
    return {run.info.run_id: run for run in runs}


def test_a_claim_gives_way_to_an_older_live_claim_and_to_a_record(
    installed_catalog: Catalog,
) -> None:
    first, second = Tracker(), Tracker()  # two drivers; both alive, as this process is
    spec = installed_catalog.scenario("testplugin/tiny").spec
    task = one_unit(installed_catalog)
    parent = first.parent_run(spec, task, "testplugin", {})
    claim = first.claim_unit(spec, parent, task)
    assert claim is not None
    assert second.claim_unit(spec, parent, task) is None
    assert (task.parent_key, task.run_key) in second.resume_state(spec).elsewhere
    first.record_unit(spec, parent, execute_unit(task, installed_catalog), run_id=claim)
    assert second.claim_unit(spec, parent, task) is None
    assert second.resume_state(spec).recorded == {(task.parent_key, task.run_key): claim}
    assert list(unit_runs(first, installed_catalog)) == [claim]  # withdrawn claims held nothing


def test_two_records_of_one_unit_keep_the_oldest_when_the_entry_is_summed_up(
    installed_catalog: Catalog,
) -> None:
    tracker = Tracker()
    spec = installed_catalog.scenario("testplugin/tiny").spec
    task = one_unit(installed_catalog)
    parent = tracker.parent_run(spec, task, "testplugin", {})
    result = execute_unit(task, installed_catalog)
    kept = tracker.record_unit(spec, parent, result)
    duplicate = tracker.record_unit(spec, parent, result)
    # Each driver sums up the entry after its own records: the later one sees both.
    tracker.finish_parent(spec, parent, task.parent_key)
    runs = unit_runs(tracker, installed_catalog)
    assert runs[kept].info.status == "FINISHED"  # type: ignore[attr-defined]
    assert runs[duplicate].info.status == "KILLED"  # type: ignore[attr-defined]
    assert runs[duplicate].data.tags[ownership.ABANDONED] == f"duplicate of run {kept}"  # type: ignore[attr-defined]
    assert tracker.resume_state(spec).recorded == {(task.parent_key, task.run_key): kept}


def test_parents_created_twice_fold_into_the_oldest(installed_catalog: Catalog) -> None:
    tracker = Tracker()
    spec = installed_catalog.scenario("testplugin/tiny").spec
    task = one_unit(installed_catalog)
    oldest = tracker.parent_run(spec, task, "testplugin", {})
    assert tracker.parent_run(spec, task, "testplugin", {}) == oldest  # a second creator
    experiment = tracker.experiment_id(spec)
    parents = tracker.client.search_runs([experiment], "tags.`assay.kind` = 'parent'")
    [folded] = [p for p in parents if p.info.run_id != oldest]
    assert folded.info.status == "KILLED"
    assert folded.data.tags[ownership.ABANDONED] == f"folded into parent run {oldest}"
    # A driver that chose the folded parent before the fold still records under it.
    child = tracker.record_unit(spec, folded.info.run_id, execute_unit(task, installed_catalog))
    tracker.finish_parent(spec, folded.info.run_id, task.parent_key)
    assert tracker.client.get_run(child).data.tags["mlflow.parentRunId"] == oldest
    assert tracker.client.get_run(oldest).data.tags["assay.units"] == "1"
    assert tracker.resume_state(spec).parents == {task.parent_key: oldest}


def test_an_owner_is_gone_when_its_process_is_or_its_heartbeat_is_past_the_lease() -> None:
    me = psutil.Process()
    here = ownership.Owner("here", me.pid, me.create_time())
    now = time.time()
    tags = here.tags(10.0)
    assert ownership.gone(tags, here=here, lease=10.0, now=now + 3600) is None  # alive here
    reused_pid = {**tags, ownership.STARTED: repr(me.create_time() - 100)}
    assert "has exited" in str(ownership.gone(reused_pid, here=here, lease=10.0, now=now))
    elsewhere = {**tags, ownership.HOST: "there"}
    assert ownership.gone(elsewhere, here=here, lease=10.0, now=now + 5) is None
    assert "no heartbeat" in str(ownership.gone(elsewhere, here=here, lease=10.0, now=now + 11))
    # A judge with a shorter lease still waits for the one the owner promised.
    assert ownership.gone(elsewhere, here=here, lease=1.0, now=now + 5) is None
    assert ownership.gone({}, here=here, lease=10.0, now=now) is not None


def test_the_lease_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ownership.LEASE_ENV, raising=False)
    assert ownership.lease_s() == ownership.DEFAULT_LEASE_S
    monkeypatch.setenv(ownership.LEASE_ENV, "2.5")
    assert ownership.lease_s() == 2.5
    for bad in ("soon", "0", "-1", "nan"):
        monkeypatch.setenv(ownership.LEASE_ENV, bad)
        with pytest.raises(AssayError, match="ASSAY_LEASE_S must be a positive number"):
            ownership.lease_s()


def test_a_half_migrated_store_is_refused_in_one_line(isolated_home: Path) -> None:
    db = isolated_home / "half.db"
    open_store(f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:  # what a migration interrupted midway leaves
        conn.execute("create table _alembic_tmp_latest_metrics (x integer)")
        conn.execute("update alembic_version set version_num = '4465047574b1'")
    os.chdir(isolated_home)  # another spelling of the URI: MLflow opens the store afresh
    with pytest.raises(AssayError) as error:
        open_store("sqlite:///half.db")
    message = str(error.value)
    assert "\n" not in message
    assert "half-migrated" in message
    assert "DROP TABLE _alembic_tmp_latest_metrics" in message
    assert "mlflow db upgrade sqlite:///half.db" in message


def test_the_heartbeat_beats_for_the_claims_held_until_it_stops() -> None:
    beats: list[str] = []
    beaten = threading.Event()

    def beat(run_id: str) -> None:
        beats.append(run_id)
        beaten.set()

    with ownership.Heartbeat(beat, interval_s=0.01) as heartbeat:
        heartbeat.add("claim")
        assert beaten.wait(timeout=30)
        heartbeat.discard("claim")
    held = len(beats)
    assert set(beats) == {"claim"}
    time.sleep(0.05)
    assert len(beats) == held  # stopped with the context
