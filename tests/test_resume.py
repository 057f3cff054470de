"""A suite killed with SIGKILL halfway and started again finishes with every unit exactly once."""

from __future__ import annotations

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

    import json

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
