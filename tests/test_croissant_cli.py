"""Croissant from the command line: `assay data export` writes a scenario's data, the
export runs as `core/croissant` with the original's scores, a Croissant file that Assay
did not write runs end to end, and mistakes are one line with exit status 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from harness import ROOT, run_assay

pytest.importorskip("mlcroissant")

HAND_WRITTEN = ROOT / "shared" / "tests" / "data" / "croissant_hf" / "croissant.json"
"""Written by hand in the layout the Hugging Face Hub publishes (a train and a test CSV
in one file set, the split taken from the file name); not an `assay data export`."""


def _one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1, result.stderr
    assert line.startswith("error: "), line
    for part in expected:
        assert part in line, line


def _croissant(data: Path | str, target: str, *options: str) -> list[str]:
    """`assay run core/croissant` on the description `data` with `target` and `options`."""
    return ["run", "core/croissant", "--data", str(data), "--target", target, *options]


def _metrics(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, float]]:
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)["results"]
    metrics: dict[str, dict[str, float]] = entry["metrics"]
    return metrics


def test_an_export_runs_as_core_croissant_with_the_original_scores(
    tmp_path: Path, env: dict[str, str]
) -> None:
    out = tmp_path / "diabetes"
    exported = run_assay(
        ["data", "export", "core/diabetes", "--size", "quick", "--out", str(out)], env, tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    assert "core/diabetes: 442 rows, 5 folds" in exported.stdout
    assert {p.name for p in out.iterdir()} == {"croissant.json", "rows.parquet", "folds.parquet"}
    description = json.loads((out / "croissant.json").read_text())
    assert {f["contentUrl"] for f in description["distribution"]} == {
        "rows.parquet",
        "folds.parquet",
    }

    ran = run_assay(
        _croissant(out / "croissant.json", "target", "-m", "ridge", "-m", "mean", "--json"),
        env,
        tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    results = {r["model"]: r for r in json.loads(ran.stdout)["results"]}
    assert set(results) == {"ridge", "mean"}
    ours = results["ridge"]["metrics"]
    assert results["ridge"]["units"] == 5  # its own five folds
    assert ours["rmse"]["mean"] < results["mean"]["metrics"]["rmse"]["mean"]
    theirs = _metrics(run_assay(["run", "core/diabetes", "-m", "ridge", "--json"], env, tmp_path))
    # the same rows, targets and folds give the same scores
    assert ours["rmse"]["mean"] == pytest.approx(theirs["rmse"]["mean"], rel=1e-9)
    assert ours["r2"]["mean"] == pytest.approx(theirs["r2"]["mean"], rel=1e-9)


def test_croissant_mistakes_are_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "diabetes"
    exported = run_assay(["data", "export", "core/diabetes", "--out", str(out)], env, tmp_path)
    assert exported.returncode == 0, exported.stderr
    description = str(out / "croissant.json")

    _one_line_error(
        run_assay(_croissant(tmp_path / "nowhere.json", "target", "-m", "ridge"), env, tmp_path),
        "nowhere.json",
        "no such file",
    )
    _one_line_error(
        run_assay(_croissant(description, "y", "-m", "ridge"), env, tmp_path),
        "no field 'y' to use as the target",
    )
    (out / "folds.parquet").unlink()
    _one_line_error(
        run_assay(_croissant(description, "target", "-m", "ridge"), env, tmp_path),
        "folds.parquet",
        "not found",
    )


def test_a_croissant_file_assay_did_not_write_runs_end_to_end(
    tmp_path: Path, env: dict[str, str]
) -> None:
    ran = run_assay(
        _croissant(HAND_WRITTEN, "solubility", "-m", "ridge", "-m", "mean", "--json"), env, tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    results = {r["model"]: r for r in report["results"]}
    assert set(results) == {"ridge", "mean"}
    for result in results.values():
        assert result["units"] == 1  # its declared train/test split is one fold
        assert result["failures"] == 0
        assert set(result["metrics"]) >= {"rmse", "mae", "r2"}
    assert results["ridge"]["metrics"]["rmse"]["mean"] > 0


def test_description_only_keeps_the_description_beside_other_files(
    tmp_path: Path, env: dict[str, str]
) -> None:
    boards = tmp_path / "boards"
    (boards / "core").mkdir(parents=True)
    (boards / "core" / "diabetes.md").write_text("a board")
    command = ["data", "export", "core/diabetes", "--description-only", "--out", str(boards)]
    result = run_assay(command, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (boards / "core").iterdir()) == [
        "diabetes.croissant.json",
        "diabetes.md",
    ]
    assert sorted(p.name for p in boards.iterdir()) == ["core"]  # no data files left
    description = json.loads((boards / "core" / "diabetes.croissant.json").read_text())
    assert [f["name"] for f in description["distribution"]] == ["rows.parquet", "folds.parquet"]
