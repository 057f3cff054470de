"""A user's CSV end to end through the core runner, as `assay run medicine/csv --data PATH --target Y`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
from assay.builtin import plugin as core_plugin
from assay.engine.executors import SerialExecutor
from assay.engine.runner import GridEntry, plan_grid
from assay.errors import DataError
from assay.plugin import Catalog
from assay.spec import ModelEntry
from assay_medicine.plugin import plugin
from assay_medicine.user_files import EXAMPLE_FILE


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    return Catalog.from_plugins([core_plugin, plugin])


def test_tdc_csv_runs_end_to_end(catalog: Catalog, tmp_path: Path) -> None:
    # A user's copy of the bundled 150-molecule TDC-layout example.
    user_file = tmp_path / "my_molecules.csv"
    shutil.copy(Path(str(files("assay_medicine") / "examples" / EXAMPLE_FILE)), user_file)
    models = [ModelEntry(name="mean"), ModelEntry(name="medicine.knn_tanimoto")]
    params = {"path": str(user_file), "target": "Y"}
    tasks = plan_grid(catalog, [GridEntry("medicine/csv", models, source_params=params)], "quick")
    assert len(tasks) == 10  # five folds x two models
    results = list(SerialExecutor(catalog).run(tasks))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert {"rmse", "mae", "r2", "spearman"} <= set(results[0].metrics)


def test_bad_smiles_is_one_line_naming_the_row(
    catalog: Catalog, fixture_files: dict[str, Path]
) -> None:
    params = {"path": str(fixture_files["bad_smiles.csv"]), "target": "Y"}
    entry = GridEntry("medicine/csv", [ModelEntry(name="mean")], source_params=params)
    with pytest.raises(DataError) as info:
        plan_grid(catalog, [entry], "quick")
    assert "bad_smiles.csv line 5: invalid SMILES 'C1CC('" in str(info.value)
    assert "\n" not in str(info.value)


def test_cli_runs_a_tdc_csv_and_names_a_bad_row(
    tmp_path: Path, fixture_files: dict[str, Path]
) -> None:
    """The documented command, `assay run medicine/csv --data PATH --target Y`, in a subprocess."""
    env = {
        **os.environ,
        "ASSAY_HOME": str(tmp_path / "home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }

    def assay_run(data: Path, *models: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "assay.cli.main", "run", "medicine/csv", "--target", "Y"]
        command += ["--data", str(data), *(arg for m in models for arg in ("-m", m))]
        return subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
        )

    good = assay_run(fixture_files["tdc.csv"], "mean", "medicine.ridge")
    assert good.returncode == 0, good.stderr
    assert "10 units planned" in good.stdout
    bad = assay_run(fixture_files["bad_smiles.csv"])
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: bad_smiles.csv line 5: invalid SMILES 'C1CC('; fix or remove "
        'the row, or set on_invalid = "drop" to drop such rows'
    )


def test_default_models_are_the_fast_ones_and_the_dmpnn_is_opt_in(tmp_path: Path) -> None:
    """`assay show medicine/csv` lists gradient boosting among the defaults and not the
    D-MPNN, whose cost the card states."""
    env = {**os.environ, "ASSAY_HOME": str(tmp_path / "home"), "COLUMNS": "400"}
    shown = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", "show", "medicine/csv"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    models_line = next(line for line in shown.stdout.splitlines() if line.startswith("models:"))
    defaults = models_line.removeprefix("models:").split(";")[0].split(",")
    assert [m.strip() for m in defaults] == [
        "mean",
        "medicine.ridge",
        "medicine.random_forest",
        "medicine.gradient_boosting",
        "medicine.knn_tanimoto",
    ]
    card = " ".join(shown.stdout.split())
    assert "The D-MPNN is opt-in (`-m medicine.dmpnn`)" in card
    assert "several minutes per fold on 2 cores" in card


def test_a_constant_target_column_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    user_file = tmp_path / "flat.csv"
    smiles = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "CCCl"]
    user_file.write_text("Drug,Y\n" + "".join(f"{s},0\n" for s in smiles), encoding="utf-8")
    entry = GridEntry(
        "medicine/csv", [ModelEntry(name="mean")], source_params={"path": str(user_file)}
    )
    with pytest.raises(DataError) as info:
        plan_grid(catalog, [entry], "quick")
    assert str(info.value) == f"{user_file}: column 'Y' is 0 in all 6 rows given, nothing to learn"
