"""The data-only path: folds from `assay.load`, a model trained outside Assay, scored by
`.evaluate` and by `assay evaluate`, equal to `assay run` on the same folds."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from harness import run_assay
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def unit_metrics(tracking: str, label: str) -> dict[str, float]:
    client = mlflow.tracking.MlflowClient(tracking)
    experiment = client.get_experiment_by_name("core/diabetes")
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.`assay.kind` = 'unit' and tags.`assay.model_label` = '{label}'",
    )
    return {r.data.tags["assay.unit"]: r.data.metrics["rmse"] for r in runs}


def test_load_fit_elsewhere_evaluate_and_track(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import assay

    monkeypatch.setenv("ASSAY_HOME", env["ASSAY_HOME"])
    bench = assay.load("core/diabetes", size="quick")
    assert bench.licence
    assert len(bench.folds) == 5
    rows, own_scores = [], {}
    for fold in bench.folds:
        assert fold.test.targets is None  # the evaluator keeps them
        model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        model.fit(fold.train.inputs, fold.train.targets)
        y_pred = model.predict(fold.test.inputs)
        own_scores[fold.name] = bench.evaluate(fold, y_pred)["rmse"]
        rows.append(pd.DataFrame({"fold": fold.name, "row": fold.test_rows, "y_pred": y_pred}))
    table = pd.concat(rows)
    csv = tmp_path / "ridge-elsewhere.csv"
    table.to_csv(csv, index=False)

    ran = run_assay(["run", "core/diabetes", "-m", "ridge", "--seeds", "0"], env, tmp_path)
    assert ran.returncode == 0, ran.stderr
    evaluated = run_assay(
        ["evaluate", "core/diabetes", "--predictions", str(csv), "--name", "my-ridge"],
        env,
        tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    tracking = env["MLFLOW_TRACKING_URI"]
    by_assay = unit_metrics(tracking, "ridge")
    by_evaluate = unit_metrics(tracking, "my-ridge")
    assert set(by_assay) == set(by_evaluate) == set(own_scores)
    for name, value in own_scores.items():
        assert by_evaluate[name] == pytest.approx(value, rel=1e-12)
        assert by_assay[name] == pytest.approx(value, rel=1e-9)

    again = run_assay(
        ["evaluate", "core/diabetes", "--predictions", str(csv), "--name", "my-ridge"],
        env,
        tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert len(unit_metrics(tracking, "my-ridge")) == 5  # the same file is not tracked twice

    out = tmp_path / "boards"
    built = run_assay(["leaderboard", "build", "--size", "quick", "--out", str(out)], env, tmp_path)
    assert built.returncode == 0, built.stderr
    board = json.loads((out / "core" / "diabetes.json").read_text())
    entries = {e["model"]: e for e in board["entries"]}
    assert entries["my-ridge"]["metrics"]["rmse"]["mean"] == pytest.approx(
        entries["ridge"]["metrics"]["rmse"]["mean"]
    )
    assert entries["my-ridge"]["rank"] == entries["ridge"]["rank"]  # identical: they tie

    # Predictions for the wrong rows, or with NaNs: one line, exit 2.
    wrong = table.copy()
    wrong.iloc[0, wrong.columns.get_loc("row")] = 10_000
    nan = table.copy()
    nan.iloc[3, nan.columns.get_loc("y_pred")] = np.nan
    for bad, expected in ((wrong, "not exactly its"), (nan, "non-finite")):
        path = tmp_path / "bad.csv"
        bad.to_csv(path, index=False)
        result = run_assay(
            ["evaluate", "core/diabetes", "--predictions", str(path), "--name", "bad"],
            env,
            tmp_path,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
