"""Drivers that share one fresh sqlite store never lose or duplicate a run (issue 27)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

from harness import SUITES, assay_command, run_assay


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*assay_command(), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def runs(db: Path, kind: str) -> list[dict[str, str]]:
    """Active runs of one kind (`unit` or `parent`), with their status and assay tags."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select r.run_uuid, r.status, t.key, t.value from runs r "
            "join tags t on t.run_uuid = r.run_uuid where r.lifecycle_stage = 'active' and "
            "r.run_uuid in (select run_uuid from tags where key = 'assay.kind' and value = ?)",
            (kind,),
        ).fetchall()
    by_id: dict[str, dict[str, str]] = {}
    for run_id, status, key, value in rows:
        by_id.setdefault(run_id, {"id": run_id, "status": status})[key] = value
    return list(by_id.values())


def recorded(db: Path) -> list[dict[str, str]]:
    """Unit runs that count: not abandoned (KILLED) and not a claim still RUNNING."""
    return [r for r in runs(db, "unit") if r["status"] in ("FINISHED", "FAILED")]


def assert_one_parent_per_entry(db: Path, entries: int) -> None:
    parents = [r for r in runs(db, "parent") if r["status"] != "KILLED"]
    assert sorted(Counter(p["assay.parent_key"] for p in parents).values()) == [1] * entries
    kept = {p["assay.parent_key"]: p["id"] for p in parents}
    for unit in recorded(db):
        assert unit["mlflow.parentRunId"] == kept[unit["assay.parent_key"]]


def test_four_drivers_with_different_seeds_on_a_fresh_store(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db = tmp_path / "mlflow.db"
    drivers = [
        start(
            ["run", "testplugin/tiny", "-m", "mean", "-m", "ridge", "--seeds", str(seed)],
            env,
            tmp_path,
        )
        for seed in range(1, 5)
    ]
    for driver in drivers:
        out, err = driver.communicate(timeout=600)
        assert driver.returncode == 0, err
        assert "Traceback" not in out + err
    assert_every_unit_once(db, units=4 * 2 * 3)  # seeds x models x folds


def assert_every_unit_once(db: Path, *, units: int) -> None:
    """Each unit recorded exactly once, all finished, under one parent per entry (2 here)."""
    recorded_units = recorded(db)
    keys = Counter((u["assay.parent_key"], u["assay.run_key"]) for u in recorded_units)
    assert len(keys) == units
    assert set(keys.values()) == {1}
    assert {u["status"] for u in recorded_units} == {"FINISHED"}
    assert_one_parent_per_entry(db, entries=2)


def test_the_same_suite_started_twice_at_once(tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "mlflow.db"
    suite = ["suite", "run", str(SUITES / "twice.toml"), "--json"]
    drivers = [start(suite, env, tmp_path) for _ in range(2)]
    reports = []
    for driver in drivers:
        out, err = driver.communicate(timeout=600)
        assert driver.returncode == 0, err
        reports.append(json.loads(out))
    assert_every_unit_once(db, units=3 * 2 * 2)  # folds x seeds x models
    assert all(r["planned"] == 12 for r in reports)


def test_a_killed_drivers_unit_is_recomputed_only_after_its_lease(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db = tmp_path / "mlflow.db"
    command = ["run", "testplugin/tiny", "-m", "slow_mean", "-p", "delay=1.5", "--json"]
    driver = start(command, {**env, "ASSAY_LEASE_S": "5"}, tmp_path)
    deadline = time.time() + 300
    claims: list[dict[str, str]] = []
    while not claims and time.time() < deadline:
        assert driver.poll() is None, "the driver ended before it could be killed"
        time.sleep(0.02)
        with contextlib.suppress(sqlite3.OperationalError):  # tables not created yet
            claims = [r for r in runs(db, "unit") if r["status"] == "RUNNING"]
    os.kill(driver.pid, signal.SIGKILL)
    driver.communicate()
    [claim] = claims
    status = {r["id"]: r["status"] for r in runs(db, "unit")}[claim["id"]]
    assert status == "RUNNING", "the unit was recorded before the kill landed"
    # As if the driver had run on another machine: there only the lease tells it is gone
    # (on the same host a dead pid is enough, which test_resume relies on).
    with sqlite3.connect(db) as conn:
        conn.execute(
            "update tags set value = 'another-host' where run_uuid = ? and key = 'assay.owner.host'",
            (claim["id"],),
        )

    patient = run_assay(command, {**env, "ASSAY_LEASE_S": "3600"}, tmp_path)
    assert patient.returncode == 0, patient.stderr
    report = json.loads(patient.stdout)
    assert report["in_progress_elsewhere"] == 1
    assert {r["id"]: r["status"] for r in runs(db, "unit")}[claim["id"]] == "RUNNING"

    beat = float(claim["assay.heartbeat"])
    time.sleep(max(0.0, beat + 5.5 - time.time()))  # the killed driver's lease runs out
    after = run_assay(command, {**env, "ASSAY_LEASE_S": "5"}, tmp_path)
    assert after.returncode == 0, after.stderr
    report = json.loads(after.stdout)
    assert report["in_progress_elsewhere"] == 0
    assert report["skipped"] == 2  # only the abandoned unit is recomputed
    assert report["results"][0]["units"] == 3  # the summary covers every unit of the entry
    abandoned = {r["id"]: r for r in runs(db, "unit")}[claim["id"]]
    assert abandoned["status"] == "KILLED"
    assert "no heartbeat" in abandoned["assay.abandoned"]
    units = recorded(db)
    keys = Counter(u["assay.run_key"] for u in units)
    assert len(keys) == 3
    assert set(keys.values()) == {1}
    assert {u["status"] for u in units} == {"FINISHED"}
