"""Real-lab campaigns: bad measurement files get one line; a campaign killed with
SIGKILL between (and inside) its commands keeps every observation exactly once."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from assay.errors import AssayError
from assay.loop.lab import EXPERIMENT, Lab
from assay.plugin import Catalog
from assay.spec import ModelEntry
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_diabetes

TARGETS = load_diabetes().target


def _measure(batch: pd.DataFrame, path: Path) -> Path:
    """The lab: fill in the true progression of each suggested patient."""
    filled = batch.copy()
    filled["value"] = [float(TARGETS[int(i)]) for i in filled["id"]]
    filled.to_csv(path, index=False)
    return path


@pytest.fixture
def lab(core_catalog: Catalog) -> Lab:
    lab = Lab(core_catalog)
    lab.start("core/diabetes-loop", ModelEntry(name="random"), name="c", size="quick")
    return lab


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_measurement_files_get_one_line(lab: Lab, tmp_path: Path) -> None:
    batch, new = lab.suggest("c")
    assert new
    first, second = batch["id"].iloc[0], batch["id"].iloc[1]
    corpus = {
        "wrong columns": (_write(tmp_path / "a.csv", f"id,y\n{first},1\n"), "wrong columns"),
        "NaN": (_write(tmp_path / "b.csv", f"id,value\n{first},nan\n"), "no finite value"),
        "text": (_write(tmp_path / "c.csv", f"id,value\n{first},high\n"), "no finite value"),
        "duplicate": (
            _write(tmp_path / "d.csv", f"id,value\n{first},1\n{first},2\n"),
            "listed twice",
        ),
        "unknown": (_write(tmp_path / "e.csv", "id,value\nnot-a-row,1\n"), "unknown candidate"),
        "empty": (_write(tmp_path / "f.csv", ""), "not a readable CSV"),
        "missing": (tmp_path / "absent.csv", "file not found"),
    }
    for name, (path, message) in corpus.items():
        with pytest.raises(AssayError, match=message) as info:
            lab.observe(path, "c")
        assert "\n" not in str(info.value), name
    assert lab.status("c")["observed"] == 0  # nothing half-recorded
    assert lab.observe(_write(tmp_path / "ok.csv", f"id,value\n{first},1.5\n"), "c") == 1
    with pytest.raises(AssayError, match="observed already"):
        lab.observe(_write(tmp_path / "again.csv", f"id,value\n{first},1.5\n"), "c")
    again, new = lab.suggest("c")  # the rest of the batch, not a new one
    assert not new
    assert second in again["id"].tolist()
    assert first not in again["id"].tolist()


def test_campaign_start_refuses_what_cannot_run(lab: Lab, tmp_path: Path) -> None:
    with pytest.raises(AssayError, match="exists already"):
        lab.start("core/diabetes-loop", ModelEntry(name="random"), name="c")
    with pytest.raises(AssayError, match="not a closed loop"):
        lab.start("core/diabetes", ModelEntry(name="random"), name="d")
    with pytest.raises(AssayError, match="unknown policy"):
        lab.start("core/diabetes-loop", ModelEntry(name="nope"), name="d")
    bad = _write(tmp_path / "cands.csv", "id,x\na,1\nb,oops\n")
    with pytest.raises(AssayError, match="not numeric"):
        lab.start("core/diabetes-loop", ModelEntry(name="random"), name="d", candidates_file=bad)
    lab.start("core/hartmann6-loop", ModelEntry(name="random"), name="e")
    with pytest.raises(AssayError, match="name the campaign"):
        lab.suggest()


def test_a_users_candidates_drive_the_campaign(core_catalog: Catalog, tmp_path: Path) -> None:
    rows = "\n".join(f"m{k},{k},{k % 3}" for k in range(30))
    own = _write(tmp_path / "mine.csv", "id,temperature,ratio\n" + rows + "\n")
    lab = Lab(core_catalog)
    lab.start("core/hartmann6-loop", ModelEntry(name="ucb"), name="own", candidates_file=own)
    batch, _ = lab.suggest("own")
    assert list(batch.columns) == ["id", "temperature", "ratio"]
    assert len(batch) == 10  # the scenario's n0 at standard size
    assert set(batch["id"]) <= {f"m{k}" for k in range(30)}


def _assay(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay.cli.main", "campaign", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )


def _killed(args: list[str], cwd: Path, after_s: float) -> None:
    """Start an `assay campaign` command and SIGKILL it after `after_s` seconds."""
    process = subprocess.Popen(
        [sys.executable, "-m", "assay.cli.main", "campaign", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    time.sleep(after_s)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_a_campaign_killed_between_and_inside_commands_keeps_every_observation_once(
    tmp_path: Path,
) -> None:
    started = _assay(
        "start",
        "core/diabetes-loop",
        "--policy",
        "random",
        "--name",
        "k",
        "--size",
        "quick",
        cwd=tmp_path,
    )
    assert started.returncode == 0, started.stderr
    delays = [0.5, 2.0, 3.5]  # before, around and after the store is written (machine-dependent)
    for round_, delay in enumerate(delays):
        _killed(["suggest", "--campaign", "k", "--out", "killed.csv"], tmp_path, delay)
        suggested = _assay("suggest", "--campaign", "k", "--out", "batch.csv", cwd=tmp_path)
        assert suggested.returncode == 0, suggested.stderr
        measured = _measure(
            pd.read_csv(tmp_path / "batch.csv", dtype={"id": str}), tmp_path / f"m{round_}.csv"
        )
        _killed(["observe", str(measured), "--campaign", "k"], tmp_path, delay)  # kill -9
        observed = _assay("observe", str(measured), "--campaign", "k", cwd=tmp_path)
        # Either the killed command got it in (then this one is a duplicate) or this one does.
        assert observed.returncode == 0 or "observed already" in observed.stderr, observed.stderr
    status = _assay("status", "--campaign", "k", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    client = MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    files = sorted(a.path for a in client.list_artifacts(run.info.run_id, "observations"))
    ids: list[str] = []
    for name in files:
        text = Path(client.download_artifacts(run.info.run_id, name)).read_text(encoding="utf-8")
        ids += pd.read_csv(io.StringIO(text), comment="#", dtype={"id": str})["id"].tolist()
    assert len(ids) == 15, files  # the quick budget: 5 + 5 + 5, every one recorded
    assert len(set(ids)) == 15  # and none twice
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "observed")]
    assert sorted(steps) == [0, 1, 2]
    assert client.get_run(run.info.run_id).data.metrics["observed"] == 15
    finished = _assay("suggest", "--campaign", "k", cwd=tmp_path)
    assert finished.returncode == 2
    assert "spent its budget" in finished.stderr
