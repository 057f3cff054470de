"""A suite through MLflow into a leaderboard, read back by a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness import ROOT, SUITES, run_assay

READER = """
import json, sys, mlflow
runs = mlflow.search_runs(experiment_names=["testplugin/tiny"], filter_string="tags.`assay.kind` = 'unit'")
print(json.dumps({
    "n": len(runs),
    "models": sorted(set(runs["tags.assay.model"])),
    "statuses": sorted(set(runs["status"])),
    "has_rmse": bool(runs["metrics.rmse"].notna().any()),
    "data_sha": sorted(set(runs["tags.assay.data_sha"].str.len())),
    "git": sorted(set(runs["tags.assay.git_commit"]))[:1],
}))
"""


def test_suite_to_mlflow_to_leaderboard(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_assay(["suite", "run", str(SUITES / "mixed.toml"), "--json"], env, tmp_path)
    assert result.returncode == 1, result.stderr  # every unit ran, but some failed
    assert "6 of 22 units failed" in result.stderr
    assert "crash: 3 of 3 failed: RuntimeError: this model always crashes" in result.stderr
    assert "traceback: artifact error.txt of MLflow run" in result.stderr
    summary = json.loads(result.stdout)
    assert (
        "skipped astronomy/galaxy-morphology@1: plugin 'astronomy' is not installed"
        in summary["notes"]
    )
    rows = {(r["scenario"], r["model"]): r for r in summary["results"]}
    assert rows[("testplugin/tiny@1", "crash")]["failures"] == 3
    assert rows[("testplugin/tiny@1", "hang")]["failures"] == 3
    assert rows[("testplugin/tiny@1", "ridge")]["failures"] == 0
    assert rows[("core/breast-cancer@1", "logistic")]["metrics"]["roc_auc"]["mean"] > 0.95

    reader = subprocess.run(
        [sys.executable, "-c", READER],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(reader.stdout.strip().splitlines()[-1])
    assert seen["n"] == 12
    assert seen["models"] == ["crash", "hang", "mean", "ridge"]
    assert seen["statuses"] == ["FAILED", "FINISHED"]
    assert seen["has_rmse"]
    assert seen["data_sha"] == [64]

    # An ad-hoc run under the same label with other parameters is not the suite's entry.
    adhoc = run_assay(
        ["run", "testplugin/tiny", "-m", "ridge", "-p", "alpha=1000", "--size", "quick"],
        env,
        tmp_path,
    )
    assert adhoc.returncode == 0, adhoc.stderr

    out = tmp_path / "boards"
    built = run_assay(
        ["leaderboard", "build", "--suite", str(SUITES / "mixed.toml"), "--out", str(out)],
        env,
        tmp_path,
    )
    assert built.returncode == 0, built.stderr
    board = json.loads((out / "testplugin" / "tiny.json").read_text())
    entries = {e["model"]: e for e in board["entries"]}
    # Entries whose units failed are listed below the complete ones, unranked, never dropped.
    assert [e["model"] for e in board["entries"]][2:] == ["crash", "hang"]
    assert entries["crash"]["rank"] is None
    assert entries["crash"]["failures"] == 3
    assert entries["crash"]["errors"] == ["RuntimeError: this model always crashes"]
    assert entries["ridge"]["rank"] == 1
    assert entries["ridge"]["units"] == entries["mean"]["units"] == 3
    assert entries["mean"]["normalised"] == 0.0
    assert entries["ridge"]["normalised"] == 1.0
    assert board["references"][0]["citation"] == "made up for the tests"
    markdown = (out / "testplugin" / "tiny.md").read_text()
    assert "| 1 | ridge |" in markdown
    assert "| - | crash |" in markdown
    assert "`crash`: 3 of 3 units failed; first error: RuntimeError" in markdown
    assert "made up for the tests" in markdown
    assert (out / "testplugin" / "tiny.png").stat().st_size > 1000
    assert "testplugin/tiny" in (out / "README.md").read_text()

    # Without a suite every tracked entry is a row; unlabelled ones are named by their parameters.
    everything = tmp_path / "all-boards"
    built = run_assay(
        ["leaderboard", "build", "--size", "quick", "--out", str(everything)], env, tmp_path
    )
    assert built.returncode == 0, built.stderr
    board = json.loads((everything / "testplugin" / "tiny.json").read_text())
    entries = {e["model"]: e for e in board["entries"]}
    assert set(entries) == {"mean", "ridge", "ridge [alpha=1000]", "crash", "hang"}
    assert entries["ridge"]["units"] == entries["ridge [alpha=1000]"]["units"] == 3
    assert entries["ridge"]["values"] != entries["ridge [alpha=1000]"]["values"]


def test_user_mistakes_are_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'schema_version = 1\nname = "x"\ncolour = 1\n[[entries]]\nscenario = "core/diabetes"\n'
    )
    typo = tmp_path / "typo.toml"
    typo.write_text(
        'schema_version = 1\nname = "x"\nsize = "quick"\n'
        '[[entries]]\nscenario = "core/diabetes"\nmodels = ["mean"]\n'
        '[[entries]]\nscenario = "core/breast-cancr@1"\nmodels = ["majority"]\n'
    )
    for args, expected in [
        (["run", "core/nope", "-m", "mean"], "unknown scenario 'core/nope'"),
        (["suite", "run", str(bad)], "unknown key 'colour'"),
        (["suite", "run", str(tmp_path / "missing.toml")], "file not found"),
        (["run", "core/diabetes", "-m", "ridg"], "unknown model 'ridg'"),
        (["check-plugin", "broken"], "plugin 'broken' failed to load"),
        (
            ["run", "core/diabetes", "-m", "ridge", "-p", "alpha=abc"],
            "'alpha': Input should be a valid number",
        ),
        (["run", "core/diabetes", "-m", "ridge", "--seeds", "0,x"], "--seeds must be"),
        (["run", "core/diabetes", "-m", "ridge", "-p", "lasso:alpha=2"], "not one of the models"),
        (["suite", "run", str(typo)], "did you mean 'core/breast-cancer@1'"),
    ]:
        result = run_assay(args, env, tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert expected in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_list_reports_broken_plugin(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_assay(["list", "--json"], env, tmp_path)
    listing = json.loads(result.stdout)
    assert {"core/diabetes@1", "testplugin/tiny@1"} <= {s["scenario"] for s in listing["scenarios"]}
    assert [f["plugin"] for f in listing["failures"]] == ["broken"]


def test_check_plugin_passes_for_core(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_assay(["check-plugin", "core"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "core/diabetes@1:model-ridge" in result.stdout


def test_quick_suite_covers_installed_plugins() -> None:
    from assay.plugin import discover
    from assay.spec import load_suite

    catalog = discover()
    listed = {
        e.scenario.split("/")[0] for e in load_suite(ROOT / "scenarios" / "quick.toml").entries
    }
    domain_plugins = set(catalog.plugins) - {"testplugin"}
    assert domain_plugins <= listed


def test_usage_errors_are_short_and_run_defaults_to_the_scenarios_models(
    tmp_path: Path, env: dict[str, str]
) -> None:
    bad_option = run_assay(["run", "core/breast-cancer", "--bogus"], env, tmp_path)
    assert bad_option.returncode == 2
    assert "No such option: --bogus" in bad_option.stderr
    assert "Traceback" not in bad_option.stderr + bad_option.stdout

    result = run_assay(["run", "core/breast-cancer", "--seeds", "0", "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    models = {row["model"] for row in json.loads(result.stdout)["results"]}
    assert models == {"majority", "logistic", "random_forest"}


USER_MODEL = """
import numpy as np


class Broken:
    def fit(self, train, *, valid=None, seed=0):
        self.n = len(train)

    def predict(self, dataset):
        return np.arange(3)[[10]]  # IndexError, as a user's bug would
"""


def test_a_raising_user_model_fails_the_command(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "usermodels.py").write_text(USER_MODEL)
    result = run_assay(
        ["run", "core/diabetes", "-m", "usermodels:Broken", "-m", "mean", "--seeds", "0"],
        {**env, "PYTHONPATH": str(tmp_path)},
        tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "usermodels:Broken: 5 of 5 failed: IndexError" in result.stderr
    assert "Traceback" not in result.stderr


def test_show_prints_the_size_labels(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_assay(["show", "core/diabetes"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    for size in ("quick", "standard"):
        assert f"source core.sklearn [{size}]" in result.stdout
        assert f"protocol [{size}]" in result.stdout


def test_a_suite_with_failures_still_writes_its_board(tmp_path: Path, env: dict[str, str]) -> None:
    suite = tmp_path / "failing.toml"
    suite.write_text(
        'schema_version = 1\nname = "failing"\nsize = "quick"\n'
        '[[entries]]\nscenario = "testplugin/tiny"\nmodels = ["mean", "crash"]\n'
    )
    out = tmp_path / "boards"
    result = run_assay(["suite", "run", str(suite), "--board", str(out)], env, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 of 6 units failed" in result.stderr
    markdown = (out / "testplugin" / "tiny.md").read_text()
    assert "| 1 | mean |" in markdown
    assert "`crash`: 3 of 3 units failed" in markdown
    assert "Quick size is a smoke test" in result.stdout


def test_a_parameter_can_be_scoped_to_one_model(tmp_path: Path, env: dict[str, str]) -> None:
    args = ["run", "core/diabetes", "-m", "ridge", "-m", "mean", "--seeds", "0", "--json"]
    result = run_assay([*args, "-p", "ridge:alpha=1000"], env, tmp_path)
    assert result.returncode == 0, result.stderr  # mean takes no alpha: it got none
    rows = {r["model"]: r for r in json.loads(result.stdout)["results"]}
    assert rows["ridge"]["metrics"]["rmse"]["mean"] > 60  # a strong penalty: near the mean
