"""The user-file path on the command line: `--data` and `--set` on `assay data`, a folder
where a file is read, a resumed and a repeated run printing every unit of the entry,
`assay show --runs`, and the boards of two data of one scenario (one file, two targets;
two different files)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from harness import run_assay


def write_table(path: Path, seed: int = 2) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(30, 2))
    y, z = x @ [1.0, -1.0] + rng.normal(scale=0.2, size=30), 2 * x[:, 1]
    rows = ["a,b,y,z"] + [
        f"{a:.5f},{b:.5f},{v:.5f},{w:.5f}" for (a, b), v, w in zip(x, y, z, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_user_files_from_data_to_boards(tmp_path: Path, env: dict[str, str]) -> None:
    table = write_table(tmp_path / "plots.csv")
    folder = run_assay(["data", "testplugin/table-file", "--data", str(tmp_path)], env, tmp_path)
    assert folder.returncode == 2
    assert folder.stderr.strip().startswith("error: testplugin.table:")
    assert "is a folder; this source reads a file" in folder.stderr
    prepared = run_assay(
        ["data", "testplugin/table-file", "--data", "plots.csv", "--set", "target=z"],
        env,
        tmp_path,
    )
    assert prepared.returncode == 0, prepared.stderr
    assert "30 rows" in prepared.stdout

    scenario = ["run", "testplugin/table-file", "--data", str(table), "-m", "ridge", "--json"]
    first = run_assay([*scenario, "--folds", "1"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["results"][0]["units"] == 1
    resumed = json.loads(run_assay(scenario, env, tmp_path).stdout)
    assert (resumed["planned"], resumed["skipped"]) == (3, 1)
    assert resumed["results"][0]["units"] == 3  # the earlier unit is in the mean
    again = run_assay(scenario[:-1], env, tmp_path)  # finished: its numbers, printed again
    assert again.returncode == 0, again.stderr
    rmse = resumed["results"][0]["metrics"]["rmse"]["mean"]
    assert "3 units planned, 3 already complete" in again.stdout
    assert f"rmse {rmse:.4g}" in again.stdout

    other = run_assay([*scenario[:-1], "--target", "z"], env, tmp_path)
    assert other.returncode == 0, other.stderr
    shown = run_assay(["show", "testplugin/table-file", "--runs"], env, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("quick, data plots.csv") == 2
    assert f"ridge: 3 units, 0 failed; rmse {rmse:.4g}" in shown.stdout

    out = tmp_path / "boards"
    built = run_assay(["leaderboard", "build", "--size", "quick", "--out", str(out)], env, tmp_path)
    assert built.returncode == 0, built.stderr
    pages = sorted(p.name for p in (out / "testplugin").glob("table-file*.md"))
    assert len(pages) == 2, pages
    index = (out / "README.md").read_text()
    assert index.count("testplugin/table-file (plots.csv, sha256 ") == 2
    assert "smoke test" not in (out / "testplugin" / "table-file.md").read_text()


def test_two_different_files_each_get_a_board_named_by_file_and_sha(
    tmp_path: Path, env: dict[str, str]
) -> None:
    shas = {}
    for name, seed in (("field-a.csv", 3), ("field-b.csv", 4)):
        write_table(tmp_path / name, seed)
        ran = run_assay(
            ["run", "testplugin/table-file", "--data", name, "-m", "ridge"], env, tmp_path
        )
        assert ran.returncode == 0, ran.stderr
        shown = run_assay(["show", "testplugin/table-file", "--runs"], env, tmp_path)
        assert f"data {name}" in shown.stdout, shown.stdout
    out = tmp_path / "boards"
    built = run_assay(["leaderboard", "build", "--size", "quick", "--out", str(out)], env, tmp_path)
    assert built.returncode == 0, built.stderr
    index = (out / "README.md").read_text()
    for name in ("field-a.csv", "field-b.csv"):
        found = re.search(rf"testplugin/table-file \({re.escape(name)}, sha256 (\w{{8}})\)", index)
        assert found, index
        shas[name] = found.group(1)
    assert shas["field-a.csv"] != shas["field-b.csv"]
    newest = (out / "testplugin" / "table-file.md").read_text()
    assert "Data: `field-b.csv` (sha256 " in newest
    earlier = out / "testplugin" / f"table-file--field-a_csv-{shas['field-a.csv']}.md"
    assert "Data: `field-a.csv` (sha256 " in earlier.read_text()
