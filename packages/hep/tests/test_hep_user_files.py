"""A user's files only: no generated jet joins them, and missing substructure is computed.

The files are written here with plain uproot (not our writer), in the JetClass
layout without `jet_sdmass`, `jet_tau1..4` and `jet_nparticles`.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from assay.builtin import plugin as core_plugin
from assay.data.cache import DataCache
from assay.data.dataset import Dataset, DatasetMetadata
from assay.engine.runner import GridEntry, plan_grid
from assay.errors import DataError
from assay.evaluation.requirements import check_requirements
from assay.plugin import Catalog
from assay.spec import ModelEntry
from assay_hep import chunks
from assay_hep.deep import particlenet_lite, pfn
from assay_hep.features import substructure_table
from assay_hep.plugin import plugin
from assay_hep.readers import read_jet_files
from assay_hep.user_files import JetFileSource, chunk_columns
from hep_fixtures import random_jets

LACKING = ("jet_sdmass", "jet_tau1", "jet_tau2", "jet_tau3", "jet_tau4", "jet_nparticles")
SCENARIO_DEFAULTS = {"train": "example", "valid": "example", "test": "example"}
"""`hep/jet-files` ships these; `--set train=... --set test=...` replaces two of them."""


def write_without_substructure(path: Path, n_jets: int, seed: int, *, rntuple: bool = False) -> Any:
    """A JetClass-layout file without substructure branches; returns the columns written."""
    columns = random_jets(n_jets, seed=seed)
    counts = columns.pop("counts")
    for name in LACKING:
        columns.pop(name)
    arrays = {
        name: ak.unflatten(values, counts) if name.startswith("part_") else values
        for name, values in columns.items()
    }
    with uproot.recreate(path) as handle:
        if rntuple:
            handle["tree"] = arrays  # uproot writes a dict as an RNTuple
        else:
            tree = handle.mktree(
                "tree",
                {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in arrays.items()},
            )
            tree.extend(arrays)
    return columns, counts


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "assay-home"
    monkeypatch.setenv("ASSAY_HOME", str(home))

    def no_generation(*args: object, **kwargs: object) -> None:
        raise AssertionError("jets were generated for a user-file run")

    monkeypatch.setattr(chunks, "ensure_chunks", no_generation)
    monkeypatch.setattr("assay_hep.sources.ensure_chunks", no_generation)
    return home


def test_train_and_test_only_reads_only_the_users_rows(tmp_path: Path, fresh_home: Path) -> None:
    train, _ = write_without_substructure(tmp_path / "train.root", 120, seed=1)
    test, _ = write_without_substructure(tmp_path / "test.root", 80, seed=2)
    params = {
        **SCENARIO_DEFAULTS,
        "train": str(tmp_path / "train.root"),
        "test": str(tmp_path / "test.root"),
    }
    dataset, entry = DataCache(fresh_home / "data").load(JetFileSource(), params)
    assert len(dataset) == 200
    assert sorted(set(dataset.partition)) == ["test", "train"]
    assert sorted(p.name for p in entry.path.glob("*.root")) == ["test.root", "train.root"]
    np.testing.assert_array_equal(
        ak.to_numpy(dataset.inputs["jet_pt"]), np.concatenate([train["jet_pt"], test["jet_pt"]])
    )
    assert not (fresh_home / "hep").exists()  # no chunk of generated jets either


@pytest.mark.parametrize(
    ("yours", "message"),
    [
        ("test", "'test' is your file but 'train' is the generated example; set 'train' to"),
        ("valid", "'valid' is your file but 'train' is the generated example; set 'train' and "),
    ],
)
def test_example_beside_a_users_file_is_refused(tmp_path: Path, yours: str, message: str) -> None:
    write_without_substructure(tmp_path / "jets.root", 10, seed=2)
    with pytest.raises(DataError, match=message):
        JetFileSource().validate_params({**SCENARIO_DEFAULTS, yours: str(tmp_path / "jets.root")})


@pytest.mark.parametrize("rntuple", [False, True], ids=["ttree", "rntuple"])
def test_missing_substructure_is_computed_from_the_constituents(
    tmp_path: Path, rntuple: bool
) -> None:
    path = tmp_path / "jets.root"
    columns, counts = write_without_substructure(path, 60, seed=3, rntuple=rntuple)
    jets = read_jet_files(path).jets
    p4 = np.stack([columns[f"part_{f}"] for f in ("px", "py", "pz", "energy")], 1)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    expected = substructure_table(
        [p4[a:b].astype(np.float64) for a, b in itertools.pairwise(bounds)]
    )
    for name in LACKING[:-1]:
        np.testing.assert_array_equal(
            ak.to_numpy(jets[name]), expected[name].astype(np.float32), err_msg=name
        )
    np.testing.assert_array_equal(ak.to_numpy(jets["jet_nparticles"]), counts)
    # the cached copy keeps them, so they are computed once
    assert set(LACKING) <= set(chunk_columns(read_jet_files(path)))


def test_models_run_on_train_and_test_files_without_taus(tmp_path: Path) -> None:
    """The CLI end to end: majority, trees and the cut; nothing generated."""
    write_without_substructure(tmp_path / "train.root", 300, seed=1)
    write_without_substructure(tmp_path / "test.root", 100, seed=2)
    env = {
        **os.environ,
        "ASSAY_HOME": str(tmp_path / "assay-home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    command = [sys.executable, "-m", "assay.cli.main", "run", "hep/jet-files", "--json"]
    command += ["-m", "majority", "-m", "hep.bdt", "-m", "hep.cut"]
    command += ["--set", f"train='{tmp_path / 'train.root'}'"]
    command += ["--set", f"test='{tmp_path / 'test.root'}'"]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Pythia8" not in result.stdout + result.stderr
    rows = {row["model"]: row for row in json.loads(result.stdout)["results"]}
    assert set(rows) == {"majority", "hep.bdt", "hep.cut"}
    assert all(row["failures"] == 0 for row in rows.values()), rows
    assert not (tmp_path / "assay-home" / "hep").exists()


def _touch(path: Path, seconds: int) -> None:
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))


def _two_files(tmp_path: Path) -> dict[str, str]:
    for name, seed in (("train", 1), ("test", 2)):
        write_without_substructure(tmp_path / f"{name}.root", 40, seed=seed)
        _touch(tmp_path / f"{name}.root", 1_700_000_000)
    return {
        **SCENARIO_DEFAULTS,
        "train": str(tmp_path / "train.root"),
        "test": str(tmp_path / "test.root"),
    }


def test_small_jet_files_are_known_by_their_content(tmp_path: Path, fresh_home: Path) -> None:
    params, source = _two_files(tmp_path), JetFileSource()
    assert all(i.sha256 is not None for i in source.identities(source.validate_params(params)))
    cache = DataCache(fresh_home / "data")
    dataset, entry = cache.load(source, params)
    assert f"{tmp_path / 'train.root'} (sha256 " in dataset.metadata.provenance
    assert f"train: {tmp_path / 'train.root'}" in dataset.metadata.provenance
    assert dataset.metadata.notes == ()
    _touch(tmp_path / "train.root", 1_700_000_100)  # touched, the same bytes: the same entry
    assert cache.entry_path(source, params) == entry.path


@pytest.mark.parametrize("opted", [False, True], ids=["above-threshold", "opted-in"])
def test_large_or_opted_in_jet_files_are_known_by_size_and_mtime(
    tmp_path: Path, fresh_home: Path, opted: bool
) -> None:
    params, source = _two_files(tmp_path), JetFileSource()
    if opted:
        params["fingerprint"] = "size-mtime"
    else:
        source.size_mtime_above = 1000  # 100 GB in miniature: more than the threshold
    assert all(i.sha256 is None for i in source.identities(source.validate_params(params)))
    cache = DataCache(fresh_home / "data")
    dataset, entry = cache.load(source, params)
    assert "sha256" not in dataset.metadata.provenance
    assert "a size-and-mtime fingerprint, not a content hash" in dataset.metadata.provenance
    (note,) = dataset.metadata.notes
    assert note.startswith("train.root, test.root are known to the cache by path, size and mod")
    _touch(tmp_path / "train.root", 1_700_000_100)  # same bytes, but a new stamp: a new key
    assert cache.entry_path(source, params) != entry.path
    hashed = {**params, "fingerprint": "sha256"}  # hashing can be asked for at any size
    assert all(i.sha256 is not None for i in source.identities(source.validate_params(hashed)))


CONSTITUENT_MODELS = ["hep.pfn", "hep.particlenet"]


@pytest.mark.parametrize("model", CONSTITUENT_MODELS)
def test_a_constituent_model_is_refused_while_planning_on_data_without_jets(model: str) -> None:
    """PFN and ParticleNet read the constituents: on another field's data they are refused
    before anything runs, in one line naming the model and what the data hold."""
    catalog = Catalog.from_plugins([core_plugin, plugin])
    entry = GridEntry("core/diabetes", [ModelEntry(name="mean"), ModelEntry(name=model)])
    with pytest.raises(DataError) as raised:
        plan_grid(catalog, [entry], "quick")
    assert str(raised.value) == (
        f"model {model} needs constituents, which the data of core/diabetes lack (its inputs "
        "are a ndarray, not jets); give jets with their constituents' four-momenta (part_px, "
        "part_py, part_pz, part_energy)"
    )


@pytest.mark.parametrize("factory", [pfn, particlenet_lite], ids=CONSTITUENT_MODELS)
def test_jets_without_constituents_do_not_serve_a_constituent_model(factory: Any) -> None:
    jets = ak.zip({"jet_pt": np.ones(3), "jet_eta": np.zeros(3), "part_px": [[1.0]] * 3})
    card = DatasetMetadata(name="jets", version="1", provenance="made here", licence="none")
    dataset = Dataset(inputs=jets, targets=np.array([0, 1, 0]), metadata=card)
    with pytest.raises(DataError, match=r"\(the jets have no part_py, part_pz, part_energy\)"):
        check_requirements("m", factory, dataset, scenario="s")
    full = ak.zip({f"part_{f}": [[1.0]] * 3 for f in ("px", "py", "pz", "energy")})
    check_requirements(
        "m", factory, Dataset(inputs=full, targets=None, metadata=card), scenario="s"
    )


def test_a_jet_file_without_constituents_is_refused_while_planning(
    tmp_path: Path, fresh_home: Path
) -> None:
    """The reader needs the constituents of every jet (they make the substructure and the
    inputs of PFN and ParticleNet): a file without them is one line while the grid is planned,
    before any unit runs, and nothing is cached."""
    columns = random_jets(40, seed=3)
    for name in ("part_px", "part_py", "part_pz", "part_energy", "part_deta", "part_dphi"):
        columns.pop(name, None)
    columns.pop("counts")
    with uproot.recreate(tmp_path / "jets.root") as handle:
        handle.mktree("tree", {k: v.dtype for k, v in columns.items()}).extend(columns)
    catalog = Catalog.from_plugins([core_plugin, plugin])
    given = {"train": str(tmp_path / "jets.root"), "test": str(tmp_path / "jets.root")}
    models = [ModelEntry(name=m) for m in ["majority", *CONSTITUENT_MODELS]]
    with pytest.raises(DataError) as raised:
        plan_grid(catalog, [GridEntry("hep/jet-files", models, source_params=given)], "quick")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        f"{tmp_path / 'jets.root'}: TTree 'tree' has no branches 'part_px', 'part_py', "
        "'part_pz', 'part_energy'; "
    ), message
    assert not list(fresh_home.rglob("manifest.json"))
