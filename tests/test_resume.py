"""A suite killed with SIGKILL halfway and started again finishes with every unit exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from harness import SUITES, assay_command, run_assay

UNITS = 3 * 6 * 2  # folds x seeds x models in kill.toml


def finished_units(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "select count(*) from runs r join tags t on t.run_uuid = r.run_uuid "
                "where t.key = 'assay.kind' and t.value = 'unit' and r.status = 'FINISHED'"
            ).fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    return int(row[0])


def test_sigkill_then_resume(tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "mlflow.db"
    process = subprocess.Popen(
        [*assay_command(), "suite", "run", str(SUITES / "kill.toml")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while finished_units(db) < UNITS // 3 and time.time() < deadline:
        assert process.poll() is None, "the suite ended before it could be killed"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = finished_units(db)
    assert 0 < done_before < UNITS

    result = run_assay(["suite", "run", str(SUITES / "kill.toml"), "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr

    summary = json.loads(result.stdout)
    assert summary["skipped"] == done_before
    assert summary["planned"] == UNITS

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select t.value, r.status, r.lifecycle_stage from runs r join tags t on t.run_uuid = r.run_uuid "
            "where t.key = 'assay.run_key'"
        ).fetchall()
    # The unit the kill interrupted is kept, marked abandoned (KILLED), not counted.
    live = [
        (key, status) for key, status, stage in rows if stage == "active" and status != "KILLED"
    ]
    keys = [key for key, _ in live]
    assert len(keys) == UNITS
    assert len(set(keys)) == UNITS
    assert {status for _, status in live} == {"FINISHED"}


TIMINGS = ("fit_seconds", "predict_seconds", "wall_seconds", "peak_memory_mb")


def listed(records: Path) -> dict[str, str]:
    manifest = records / "SHA256SUMS"
    if not manifest.is_file():
        return {}
    lines = manifest.read_text().splitlines()
    return {name: sha for sha, _, name in (line.partition("  ") for line in lines if line)}


def verify_folder(records: Path) -> int:
    """What `sha256sum -c SHA256SUMS` checks: every listed file is there and matches."""
    import hashlib

    entries = listed(records)
    for name, sha in entries.items():
        assert hashlib.sha256((records / name).read_bytes()).hexdigest() == sha, name
    return len(entries)


def comparable_board(path: Path) -> dict:  # type: ignore[type-arg]
    """A board without what differs between two runs of the same units: how long they
    took, and run ids."""
    board = json.loads(path.read_text())
    for entry in board["entries"]:
        for key in (*TIMINGS, "failed_run"):
            entry.pop(key, None)
        for table in (entry["metrics"], entry["values"]):
            for key in TIMINGS:
                table.pop(key, None)
    return board


def test_sigkill_delete_the_store_then_resume_from_the_records(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The records folder outlives the machine: kill -9, lose the store, run again."""
    records = tmp_path / "records"
    db = tmp_path / "mlflow.db"
    suite = str(SUITES / "kill.toml")
    process = subprocess.Popen(
        [*assay_command(), "suite", "run", suite, "--records", str(records)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while len(listed(records)) < UNITS // 3 and time.time() < deadline:
        assert process.poll() is None, "the suite ended before it could be killed"
        verify_folder(records)  # valid at every moment, not only at the end
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    recorded = verify_folder(records)
    assert 0 < recorded < UNITS

    db.unlink()  # a new machine: the store is gone, the records folder is not
    result = run_assay(["suite", "run", suite, "--records", str(records), "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["skipped"] == recorded
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select r.run_uuid, r.status, t.value from runs r join tags t on t.run_uuid = "
            "r.run_uuid where t.key = 'assay.run_key' and r.lifecycle_stage = 'active'"
        ).fetchall()
        imported = {
            run for (run,) in conn.execute("select run_uuid from tags where key = 'assay.imported'")
        }
    keys = [key for _, status, key in rows if status == "FINISHED"]
    assert sorted(set(keys)) == sorted(keys)
    assert len(keys) == UNITS
    # Units in the records were imported, never computed again; the rest ran once.
    assert len([run for run, _, _ in rows if run in imported]) == recorded
    assert verify_folder(records) == UNITS

    # The boards are those of one uninterrupted run of the same suite.
    whole = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'whole.db'}"}
    assert run_assay(["suite", "run", suite], whole, tmp_path).returncode == 0
    for store, out in ((env, "resumed"), (whole, "whole")):
        built = run_assay(
            [
                "leaderboard",
                "build",
                "--suite",
                suite,
                "--out",
                str(tmp_path / out),
                "--no-records",
            ],
            store,
            tmp_path,
        )
        assert built.returncode == 0, built.stderr
    assert comparable_board(tmp_path / "resumed" / "testplugin" / "tiny.json") == (
        comparable_board(tmp_path / "whole" / "testplugin" / "tiny.json")
    )

    # An edited record is refused with one line naming it, before anything runs.
    edited = records / next(iter(listed(records)))
    edited.write_bytes(edited.read_bytes()[:-3])
    fresh = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'fresh.db'}"}
    refused = run_assay(["suite", "run", suite, "--records", str(records)], fresh, tmp_path)
    assert refused.returncode == 2
    assert edited.name in refused.stderr
    assert "does not match its sha256" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
