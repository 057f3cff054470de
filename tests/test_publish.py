"""Result bundles: exported from one store, verified and imported into a fresh one as
external entries; every tampering refused with one line."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from harness import SUITES, run_assay

SCENARIO = "testplugin/tiny-holdout"
Record = dict[str, Any]


@pytest.fixture(scope="module")
def store_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Store A: the records suite run once for the module, and ridge on the fixed-test-set
    scenario exported from it as `bundle/`."""
    root = tmp_path_factory.mktemp("store-a")
    env = {
        **os.environ,
        "ASSAY_HOME": str(root / "assay-home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'a.db'}",
    }
    ran = run_assay(["suite", "run", str(SUITES / "records.toml")], env, root)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    exported = run_assay(
        ["export", SCENARIO, "-m", "ridge", "--size", "quick", "--out", str(root / "bundle")],
        env,
        root,
    )
    assert exported.returncode == 0, exported.stderr
    assert "wrote 2 unit runs" in exported.stdout  # one unit, two seeds
    return root


@pytest.fixture
def bundle(store_a: Path) -> Path:
    return store_a / "bundle"


def fresh_store(env: dict[str, str], tmp_path: Path, name: str) -> dict[str, str]:
    return {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / name}.db"}


def tamper(bundle: Path, to: Path, edit: Callable[[Record], None], *, rehash: bool) -> Path:
    """A copy of the bundle with its first record edited; the manifest rewritten to match
    when `rehash` (the tamperer covering their tracks), so the content checks must catch it."""
    shutil.copytree(bundle, to)
    path = next((to / "records").rglob("*.jsonl.gz"))
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    edit(records[0])
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(r) + "\n" for r in records)
    if rehash:
        rehash_manifest(to / "records")
    return to


def rehash_manifest(root: Path) -> None:
    """What a tamperer would do: the sha256 of every file as it now is."""
    lines = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(root).as_posix()}"
        for path in sorted(root.rglob("*.jsonl.gz"))
    ]
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n", encoding="utf-8")


def refused(bundle: Path, env: dict[str, str], cwd: Path) -> str:
    result = run_assay(["import", str(bundle), "--verify"], env, cwd)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_an_exported_bundle_joins_a_fresh_store_board_as_external(
    store_a: Path, bundle: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    fresh = fresh_store(env, tmp_path, "fresh")
    imported = run_assay(["import", str(bundle), "--verify"], fresh, tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "imported 2 new unit runs as external" in imported.stdout
    again = run_assay(["import", str(bundle), "--verify"], fresh, tmp_path)
    assert "imported 0 new unit runs" in again.stdout  # idempotent
    boards = tmp_path / "fresh-boards"
    built = run_assay(
        ["leaderboard", "build", "--size", "quick", "--out", str(boards), "--html"], fresh, tmp_path
    )
    assert built.returncode == 0, built.stderr
    board = json.loads((boards / "testplugin" / "tiny-holdout.json").read_text())
    (entry,) = board["entries"]
    assert entry["model"] == "ridge (external)"
    assert len(entry["external"]) == 16
    assert entry["rank"] == 1
    page = (boards / "testplugin" / "tiny-holdout.html").read_text()
    assert '<span class="badge">external</span>' in page
    assert "ridge (external)" in (boards / "testplugin" / "tiny-holdout.md").read_text()

    # Beside our own entries (a copy of store A), under the suite's filter, it keeps its mark.
    shutil.copy(store_a / "a.db", tmp_path / "a.db")
    env = fresh_store(env, tmp_path, "a")
    ours = run_assay(["import", str(bundle), "--verify"], env, tmp_path)
    assert ours.returncode == 0, ours.stderr
    suite_boards = tmp_path / "suite-boards"
    built = run_assay(
        [
            "leaderboard",
            "build",
            "--suite",
            str(SUITES / "records.toml"),
            "--out",
            str(suite_boards),
        ],
        env,
        tmp_path,
    )
    assert built.returncode == 0, built.stderr
    board = json.loads((suite_boards / "testplugin" / "tiny-holdout.json").read_text())
    models = {e["model"]: e for e in board["entries"]}
    assert {"ridge", "ridge-copy", "mean", "ridge (external)"} <= set(models)
    assert models["ridge"]["external"] == ""
    assert models["ridge (external)"]["rank"] == models["ridge"]["rank"]  # same predictions


def test_an_edited_metric_is_refused(bundle: Path, tmp_path: Path, env: dict[str, str]) -> None:
    def edit(record: Record) -> None:
        record["metrics"]["rmse"] *= 0.9

    line = refused(tamper(bundle, tmp_path / "t", edit, rehash=True), env, tmp_path)
    assert "rmse is stated as" in line
    assert "its predictions give" in line


def test_a_prediction_for_a_row_outside_the_test_fold_is_refused(
    bundle: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    def edit(record: Record) -> None:
        frame = pd.read_csv(io.StringIO(record["artifacts"]["predictions.csv"]))
        outside = next(r for r in range(10_000) if r not in set(frame["row"]))
        frame.loc[0, "row"] = outside
        record["artifacts"]["predictions.csv"] = frame.to_csv(index=False)

    line = refused(tamper(bundle, tmp_path / "t", edit, rehash=True), env, tmp_path)
    assert "which is not in test fold" in line


def test_a_different_split_is_refused(bundle: Path, tmp_path: Path, env: dict[str, str]) -> None:
    def edit(record: Record) -> None:
        record["tags"]["assay.split_sha"] = "0" * 64

    line = refused(tamper(bundle, tmp_path / "t", edit, rehash=True), env, tmp_path)
    assert "(a different split)" in line


def test_an_edit_the_manifest_does_not_cover_is_refused(
    bundle: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    def edit(record: Record) -> None:
        record["metrics"]["rmse"] *= 0.9

    line = refused(tamper(bundle, tmp_path / "t", edit, rehash=False), env, tmp_path)
    assert "does not match its sha256" in line


def test_bad_bundles_and_exports_are_one_line(
    bundle: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    assert "not a result bundle" in refused(tmp_path / "nowhere", env, tmp_path)
    other_data = tamper(
        bundle,
        tmp_path / "d",
        lambda r: r["tags"].__setitem__("assay.data_sha", "f" * 64),
        rehash=True,
    )
    assert "(other data)" in refused(other_data, env, tmp_path)
    stray = shutil.copytree(bundle, tmp_path / "s")
    shutil.copy(next((stray / "records").rglob("*.jsonl.gz")), stray / "records" / "x.jsonl.gz")
    assert "is not listed in SHA256SUMS" in refused(stray, env, tmp_path)
    store = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{bundle.parent / 'a.db'}"}
    exists = run_assay(
        ["export", SCENARIO, "--size", "quick", "--out", str(bundle)], store, tmp_path
    )
    assert exists.returncode == 2
    assert "is not an empty folder" in exists.stderr
    unknown = run_assay(
        ["export", SCENARIO, "-m", "nope", "--size", "quick", "--out", str(tmp_path / "n")],
        store,
        tmp_path,
    )
    assert unknown.returncode == 2
    assert "tracked entries: mean, ridge, ridge-copy" in unknown.stderr
    assert not (tmp_path / "n").exists()  # nothing half-written
