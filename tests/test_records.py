"""Boards rebuilt on a fresh store from the committed run records alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness import SUITES, run_assay
from mlflow.tracking import MlflowClient


def board(path: Path) -> dict:  # type: ignore[type-arg]
    data = json.loads(path.read_text())
    for entry in data["entries"]:
        entry.pop("failed_run")  # a run id: new in every store
    return data


def test_boards_rebuild_from_records_with_the_same_numbers(
    tmp_path: Path, env: dict[str, str]
) -> None:
    suite = SUITES / "records.toml"  # ridge-copy differs only by its label
    ran = run_assay(["suite", "run", str(suite)], env, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    out = tmp_path / "boards"
    built = run_assay(
        ["leaderboard", "build", "--suite", str(suite), "--out", str(out)], env, tmp_path
    )
    assert built.returncode == 0, built.stderr
    holdout = board(out / "testplugin" / "tiny-holdout.json")
    assert holdout["method"].startswith("paired bootstrap over test examples")
    for entry in holdout["entries"]:
        for summary in entry["metrics"].values():
            low, high = summary["ci95"]
            assert low < high  # never a zero-width interval
    ranks = {e["model"]: e["rank"] for e in holdout["entries"]}
    assert ranks["ridge"] == ranks["ridge-copy"] == 1  # identical predictions tie
    cv = board(out / "testplugin" / "tiny.json")
    assert cv["method"].startswith("corrected resampled t-test")
    manifest = (out / "records" / "SHA256SUMS").read_text()
    holdout_files = [line for line in manifest.splitlines() if "testplugin/tiny-holdout/" in line]
    assert len(holdout_files) == 3 * 2  # a file per unit: 3 entries x 2 seeds

    # A fresh clone: no MLflow store at all, only the committed files.
    fresh = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'fresh.db'}"}
    clone = tmp_path / "clone"
    shutil.copytree(out, clone)
    rebuilt = run_assay(
        ["leaderboard", "build", "--suite", str(suite), "--out", str(clone)], fresh, tmp_path
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "imported 12 unit runs" in rebuilt.stdout
    for name in ("tiny", "tiny-holdout"):
        assert board(clone / "testplugin" / f"{name}.json") == board(
            out / "testplugin" / f"{name}.json"
        )
    assert (clone / "records" / "SHA256SUMS").read_text() == manifest
    # Imported runs carry their data as MLflow dataset inputs, as live ones do.
    store = MlflowClient(fresh["MLFLOW_TRACKING_URI"])
    experiment = store.get_experiment_by_name("testplugin/tiny")
    assert experiment is not None
    imported = store.search_runs([experiment.experiment_id], "tags.`assay.kind` = 'unit'")
    assert imported
    for run in imported:
        (logged,) = run.inputs.dataset_inputs
        assert logged.dataset.digest == run.data.tags["assay.data_sha"][:36]
        assert [t.value for t in logged.tags] == [run.data.tags["assay.unit"]]

    # A tampered record is refused with one line.
    record = next((clone / "records" / "testplugin" / "tiny").glob("*.jsonl.gz"))
    record.write_bytes(record.read_bytes()[:-4])
    other = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'other.db'}"}
    refused = run_assay(["leaderboard", "build", "--out", str(clone)], other, tmp_path)
    assert refused.returncode == 2
    assert "does not match its sha256" in refused.stderr
    assert record.name in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
