"""Croissant from the command line: `assay data` still prepares, `assay data export` writes,
and an export runs as `core/croissant`, with mistakes on one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import run_assay

pytest.importorskip("mlcroissant")


def _one_line_error(result: object, expected: str) -> None:
    stderr = getattr(result, "stderr", "")
    assert getattr(result, "returncode", None) == 2, stderr
    assert expected in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_data_prepares_and_exports_and_the_export_runs(tmp_path: Path, env: dict[str, str]) -> None:
    prepared = run_assay(["data", "core/diabetes", "--size", "quick"], env, tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    assert "core/diabetes@1: 442 rows, data sha256" in prepared.stdout

    out = tmp_path / "diabetes"
    exported = run_assay(["data", "export", "core/diabetes", "--out", str(out)], env, tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert {p.name for p in out.iterdir()} == {"croissant.json", "rows.parquet", "folds.parquet"}

    ran = run_assay(
        ["run", "core/croissant", "--data", str(out / "croissant.json"), "--target", "target"]
        + ["-m", "ridge", "--json"],
        env,
        tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    original = run_assay(["run", "core/diabetes", "-m", "ridge", "--json"], env, tmp_path)
    ours = json.loads(ran.stdout)["results"][0]["metrics"]
    theirs = json.loads(original.stdout)["results"][0]["metrics"]
    assert ours["rmse"] == theirs["rmse"]  # the same rows, targets and folds

    _one_line_error(
        run_assay(["data", "export", "core/diabetes", "--out", str(out)], env, tmp_path),
        "is not an empty folder",
    )
    _one_line_error(
        run_assay(["data", "export", "core/hartmann6-loop", "--out", "x"], env, tmp_path),
        "no folds of rows to export",
    )
    _one_line_error(
        run_assay(
            ["run", "core/croissant", "--data", str(out / "croissant.json"), "--target", "y"]
            + ["-m", "ridge"],
            env,
            tmp_path,
        ),
        "no field 'y' to use as the target",
    )
