"""Jet files: write -> read round trip, chunked globs, TopLandscape HDF5, and broken inputs."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from assay.data.cache import DataCache
from assay.errors import DataError
from assay_hep.readers import iter_jet_files, read_jet_files, write_jets_root
from assay_hep.user_files import JetFileSource, chunk_columns
from hep_fixtures import random_jets, write_toplandscape


def test_root_round_trip_gives_identical_arrays(tmp_path: Path) -> None:
    columns = random_jets(300)
    path = tmp_path / "jets.root"
    write_jets_root(path, columns)
    back = chunk_columns(read_jet_files(path))
    assert set(back) == set(columns)
    for name, values in columns.items():
        assert back[name].dtype == values.dtype, name
        np.testing.assert_array_equal(back[name], values, err_msg=name)


def test_same_jets_give_the_same_bytes(tmp_path: Path) -> None:
    columns = random_jets(50)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_jets_root(tmp_path / "a" / "jets.root", columns)
    write_jets_root(tmp_path / "b" / "jets.root", columns)
    assert (tmp_path / "a" / "jets.root").read_bytes() == (
        tmp_path / "b" / "jets.root"
    ).read_bytes()


def test_glob_is_read_in_bounded_chunks(tmp_path: Path) -> None:
    parts = [random_jets(120, seed=s) for s in range(3)]
    for s, columns in enumerate(parts):
        write_jets_root(tmp_path / f"part{s}.root", columns)
    chunks = list(iter_jet_files(str(tmp_path / "part*.root"), step_size=50))
    assert max(len(c) for c in chunks) <= 50
    assert sum(len(c) for c in chunks) == 360
    whole = read_jet_files(str(tmp_path / "part*.root"), step_size=50)
    expected = np.concatenate([p["jet_pt"] for p in parts])
    np.testing.assert_array_equal(ak.to_numpy(whole.jets["jet_pt"]), expected)
    assert len(read_jet_files(str(tmp_path / "part*.root"), max_jets=130)) == 130


def test_max_jets_is_shared_between_the_entries(tmp_path: Path) -> None:
    """One glob per class (JetClass files hold one class each): each gets an equal share."""
    for s in range(3):
        write_jets_root(tmp_path / f"qcd{s}.root", random_jets(100, seed=s))
    write_jets_root(tmp_path / "top0.root", random_jets(100, seed=9))
    both = read_jet_files([str(tmp_path / "qcd*.root"), str(tmp_path / "top*.root")], max_jets=121)
    assert len(both) == 121
    first_top = ak.to_numpy(random_jets(100, seed=9)["jet_pt"])[:60]
    np.testing.assert_array_equal(ak.to_numpy(both.jets["jet_pt"])[61:], first_top)
    with pytest.raises(DataError, match="fewer than one jet per entry"):
        read_jet_files([str(tmp_path / "qcd0.root"), str(tmp_path / "top0.root")], max_jets=1)


def test_truncated_file_names_file(tmp_path: Path) -> None:
    path = tmp_path / "jets.root"
    write_jets_root(path, random_jets(2000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        DataError, match=r"jets\.root: branch '\w+' of TTree 'tree' cannot be read, truncated"
    ):
        read_jet_files(path)


def test_wrong_tree_names_file_and_tree(tmp_path: Path) -> None:
    path = tmp_path / "jets.root"
    write_jets_root(path, random_jets(20), tree="events")
    with pytest.raises(
        DataError, match=r"jets\.root: no TTree or RNTuple 'tree' \(the file holds: \['events'\]\)"
    ):
        read_jet_files(path)
    assert len(read_jet_files(path, tree="events")) == 20


def test_missing_branch_names_file_and_branch(tmp_path: Path) -> None:
    columns = random_jets(20)
    del columns["jet_eta"]
    path = tmp_path / "jets.root"
    write_jets_root(path, columns)
    with pytest.raises(DataError, match=r"jets\.root: TTree 'tree' has no branch 'jet_eta'"):
        read_jet_files(path)


def test_foreign_file_and_nan_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "notes.root"
    foreign.write_text("not a ROOT file\n")
    with pytest.raises(DataError, match=r"notes\.root: not a readable ROOT file"):
        read_jet_files(foreign)
    columns = random_jets(20)
    columns["jet_pt"][3] = np.nan
    write_jets_root(tmp_path / "nan.root", columns)
    with pytest.raises(DataError, match=r"nan\.root: branch 'jet_pt' holds NaN"):
        read_jet_files(tmp_path / "nan.root")
    with pytest.raises(DataError, match="matches no file"):
        read_jet_files(str(tmp_path / "missing*.root"))


def test_toplandscape_hdf5_is_read_like_root(tmp_path: Path) -> None:
    path = tmp_path / "train.h5"
    grid, labels = write_toplandscape(path, 40, n_particles=50)
    chunks = list(iter_jet_files(path, step_size=16))
    assert [len(c) for c in chunks] == [16, 16, 8]
    jets = read_jet_files(path)
    assert jets.label_names == ("QCD", "Tbqq")
    np.testing.assert_array_equal(jets.labels[:, 1], labels)
    counts = (grid[:, :, 0] > 0).sum(axis=1)
    np.testing.assert_array_equal(ak.to_numpy(ak.num(jets.jets["part_energy"])), counts)
    np.testing.assert_allclose(
        ak.to_numpy(ak.sum(jets.jets["part_px"], axis=1)), grid[:, :, 1].sum(1)
    )
    expected_pt = np.hypot(grid[:, :, 1].sum(1), grid[:, :, 2].sum(1))
    np.testing.assert_allclose(ak.to_numpy(jets.jets["jet_pt"]), expected_pt)
    assert np.all(ak.to_numpy(jets.jets["jet_tau2"]) <= ak.to_numpy(jets.jets["jet_tau1"]) + 1e-9)


@pytest.mark.parametrize("drop", ["PX_0", "is_signal_new"])
def test_toplandscape_missing_column_is_named(tmp_path: Path, drop: str) -> None:
    path = tmp_path / "bad.h5"
    write_toplandscape(path, 5, n_particles=10, drop=drop)
    with pytest.raises(DataError, match=rf"bad\.h5: TopLandscape column '{drop}' is missing"):
        read_jet_files(path)


def test_user_file_source_builds_a_dataset(tmp_path: Path) -> None:
    write_toplandscape(tmp_path / "train.h5", 30, seed=1, n_particles=20)
    write_toplandscape(tmp_path / "test.h5", 20, seed=2, n_particles=20)
    params = {"train": str(tmp_path / "train.h5"), "test": str(tmp_path / "test.h5")}
    dataset, entry = DataCache(tmp_path / "cache").load(JetFileSource(), params)
    assert len(dataset) == 50
    assert sorted(set(dataset.partition)) == ["test", "train"]
    assert (entry.path / "train.root").is_file()
    with pytest.raises(DataError, match="'test'"):
        JetFileSource().validate_params({"train": str(tmp_path / "train.h5")})


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (["Tbqq", "QCD"], "list 'QCD' first"),
        (["QCD"], "two or more distinct"),
        (["QCD", "Wqq", "Wqq"], "two or more distinct"),
        ("QCD", "'classes': Input should be a valid list"),
    ],
)
def test_user_file_classes_keep_qcd_as_the_background(
    tmp_path: Path, classes: list[str] | str, message: str
) -> None:
    files = {"train": str(tmp_path / "train.h5"), "test": str(tmp_path / "test.h5")}
    for path in files.values():
        write_toplandscape(Path(path), 5, n_particles=10)
    JetFileSource().validate_params({**files, "classes": ["QCD", "Tbqq"]})
    JetFileSource().validate_params({**files, "classes": ["Zqq", "Wqq"]})  # no QCD: free order
    with pytest.raises(DataError, match=message):
        JetFileSource().validate_params({**files, "classes": classes})


def _broken_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Name -> (file, the part of its error that says what is wrong)."""
    cases: dict[str, tuple[Path, str]] = {}
    foreign = tmp_path / "notes.root"
    foreign.write_text("not a ROOT file\n" * 100)  # long enough for uproot to read a header
    cases["foreign"] = (foreign, "not a readable ROOT file")
    truncated = tmp_path / "truncated.root"
    write_jets_root(truncated, random_jets(2000))
    truncated.write_bytes(truncated.read_bytes()[:60_000])
    cases["truncated"] = (truncated, "truncated")
    cut_header = tmp_path / "header.root"
    write_jets_root(cut_header, random_jets(20))
    cut_header.write_bytes(cut_header.read_bytes()[:300])
    cases["cut header"] = (cut_header, "")
    events = tmp_path / "events.root"
    write_jets_root(events, random_jets(20), tree="events")
    cases["wrong tree"] = (events, "no TTree or RNTuple 'tree'")
    histogram = tmp_path / "histogram.root"
    with uproot.recreate(histogram) as handle:
        handle["tree"] = np.histogram(np.arange(10.0))
    cases["not a tree"] = (histogram, "'tree' is a TH1D, not a TTree or RNTuple")
    bare = random_jets(20)
    for name in ("part_px", "part_py", "jet_sdmass", "jet_tau1", "jet_tau2"):
        del bare[name]
    write_jets_root(tmp_path / "bare.root", bare)
    cases["no constituents"] = (
        tmp_path / "bare.root",
        "TTree 'tree' has no branches 'part_px', 'part_py'; the constituents "
        "(part_px, part_py, part_pz, part_energy) are needed to compute the missing "
        "jet_sdmass, jet_tau1, jet_tau2",
    )
    nan = random_jets(20)
    nan["part_pz"][5] = np.inf
    write_jets_root(tmp_path / "nan.root", nan)
    cases["nan"] = (tmp_path / "nan.root", "branch 'part_pz' holds NaN or infinite values")
    fake_h5 = tmp_path / "fake.h5"
    fake_h5.write_text("not HDF5\nat all\n")
    cases["foreign hdf5"] = (fake_h5, "not a readable HDF5 file")
    write_toplandscape(tmp_path / "bad.h5", 5, n_particles=10, drop="PY_0")
    cases["hdf5 column"] = (tmp_path / "bad.h5", "TopLandscape column 'PY_0' is missing")
    return cases


@pytest.mark.parametrize(
    "case",
    [
        "foreign",
        "truncated",
        "cut header",
        "wrong tree",
        "not a tree",
        "no constituents",
        "nan",
        "foreign hdf5",
        "hdf5 column",
    ],
)
def test_every_reader_error_is_one_line_naming_the_file(tmp_path: Path, case: str) -> None:
    path, what = _broken_inputs(tmp_path)[case]
    with pytest.raises(DataError) as caught:
        read_jet_files(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    assert what in message
    assert "Model_ROOT" not in message


def test_rntuple_file_reads_like_the_ttree(tmp_path: Path) -> None:
    columns = random_jets(50)
    write_jets_root(tmp_path / "ttree.root", columns)
    counts = columns["counts"]
    arrays = {
        k: ak.unflatten(v, counts) if k.startswith("part_") else v
        for k, v in columns.items()
        if k != "counts"
    }
    with uproot.recreate(tmp_path / "rntuple.root") as handle:
        handle["tree"] = arrays  # uproot writes a dict of arrays as an RNTuple
    assert "RNTuple" in type(uproot.open(tmp_path / "rntuple.root")["tree"]).__name__
    back = chunk_columns(read_jet_files(tmp_path / "rntuple.root"))
    for name, values in chunk_columns(read_jet_files(tmp_path / "ttree.root")).items():
        np.testing.assert_array_equal(back[name], values, err_msg=name)


def _rntuple_with_record(path: Path, columns: dict[str, np.ndarray], *, record: str) -> None:
    """What uproot writes for our zipped layout: one record field `record` holding the
    constituents (`part.px`, `part.py`, ...), the jet and label columns flat."""
    counts = columns["counts"]
    members = {
        k.removeprefix("part_"): ak.unflatten(v, counts)
        for k, v in columns.items()
        if k.startswith("part_")
    }
    flat = {k: v for k, v in columns.items() if k != "counts" and not k.startswith("part_")}
    with uproot.recreate(path) as handle:
        handle["tree"] = {record: ak.zip(members), **flat}  # a dict of arrays: an RNTuple


def test_rntuple_record_field_reads_like_the_flat_branches(tmp_path: Path) -> None:
    columns = random_jets(120)
    write_jets_root(tmp_path / "ttree.root", columns)
    _rntuple_with_record(tmp_path / "record.root", columns, record="part")
    stored = uproot.open(tmp_path / "record.root")["tree"]
    assert "RNTuple" in type(stored).__name__
    names = list(stored.keys())
    assert "part.px" in names
    assert "part_px" not in names
    expected = chunk_columns(read_jet_files(tmp_path / "ttree.root"))
    for step in (1000, 50):  # one read, and chunked reads
        back = chunk_columns(read_jet_files(tmp_path / "record.root", step_size=step))
        assert set(back) == set(expected)
        for name, values in expected.items():
            np.testing.assert_array_equal(back[name], values, err_msg=name)


def test_neither_form_names_what_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "record.root"
    _rntuple_with_record(path, random_jets(20), record="constituents")
    with pytest.raises(DataError) as caught:
        read_jet_files(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: RNTuple 'tree' has no branches 'part_px'")
    assert "it holds: " in message
    assert "constituents.px" in message
    assert "jet_pt" in message
