from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay.builtin import SklearnBundledSource
from assay.data.cache import DataCache, verify_entry
from assay.data.dataset import (
    Dataset,
    DatasetMetadata,
    Source,
    SourceParams,
    read_array,
    write_array,
)
from assay.errors import CacheError, DataError


class CountingParams(SourceParams):
    n: int
    die: bool = False


class CountingSource(Source[CountingParams]):
    """Generated data that counts its builds and can be told to die mid-write."""

    name = "test.counting"
    params_model = CountingParams

    def __init__(self, *, rebuildable: bool = True) -> None:
        self.builds = 0
        self.rebuildable = rebuildable

    def prepare(self, params: CountingParams, out_dir: Path) -> None:
        self.builds += 1
        write_array(out_dir / "x.npy", np.arange(params.n, dtype=float).reshape(-1, 1))
        if params.die:
            raise KeyboardInterrupt("killed halfway")
        write_array(out_dir / "y.npy", np.arange(params.n, dtype=float))

    def load(self, params: CountingParams, files_dir: Path) -> Dataset:
        return Dataset(
            read_array(files_dir / "x.npy"),
            read_array(files_dir / "y.npy"),
            DatasetMetadata("counting", "1", provenance="generated in the test", licence="CC0"),
        )


def test_build_once_then_verified(tmp_path: Path) -> None:
    source, cache = CountingSource(), DataCache(tmp_path)
    dataset, first = cache.load(source, {"n": 5})
    _, second = cache.load(source, {"n": 5})
    assert source.builds == 1
    assert first.created
    assert not second.created
    assert dataset.metadata.sha256 == first.data_sha256 == second.data_sha256
    assert verify_entry(first.path) is None
    assert (first.path / "manifest.json").is_file()


def test_corrupted_file_is_detected_and_rebuilt(tmp_path: Path) -> None:
    source, cache = CountingSource(), DataCache(tmp_path)
    entry = cache.ensure(source, {"n": 5})
    (entry.path / "y.npy").write_bytes(b"garbage")
    assert verify_entry(entry.path) == "y.npy checksum mismatch"
    rebuilt = cache.ensure(source, {"n": 5})
    assert rebuilt.rebuilt
    assert source.builds == 2
    assert rebuilt.data_sha256 == entry.data_sha256
    np.testing.assert_array_equal(cache.load(source, {"n": 5})[0].targets, np.arange(5.0))


def test_missing_file_is_detected(tmp_path: Path) -> None:
    source, cache = CountingSource(), DataCache(tmp_path)
    entry = cache.ensure(source, {"n": 3})
    (entry.path / "x.npy").unlink()
    assert verify_entry(entry.path) == "x.npy missing"
    assert cache.ensure(source, {"n": 3}).rebuilt


def test_user_file_cache_is_refused_not_rebuilt(tmp_path: Path) -> None:
    source, cache = CountingSource(rebuildable=False), DataCache(tmp_path)
    entry = cache.ensure(source, {"n": 3})
    (entry.path / "x.npy").write_bytes(b"tampered")
    with pytest.raises(CacheError, match="failed its checksum"):
        cache.ensure(source, {"n": 3})


def test_killed_generation_leaves_nothing(tmp_path: Path) -> None:
    source, cache = CountingSource(), DataCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cache.ensure(source, {"n": 3, "die": True})
    folder = cache.entry_path(source, {"n": 3, "die": True}).parent
    assert list(folder.iterdir()) == []


def test_key_depends_on_params_and_versions(tmp_path: Path) -> None:
    source, cache = CountingSource(), DataCache(tmp_path)
    assert cache.key(source, {"n": 3}) != cache.key(source, {"n": 4})
    assert cache.key(source, {"n": 3}) == cache.key(source, {"n": 3})


def test_bundled_source_deterministic(tmp_path: Path) -> None:
    source = SklearnBundledSource()
    a = DataCache(tmp_path / "a").ensure(source, {"dataset": "diabetes", "max_rows": 50})
    b = DataCache(tmp_path / "b").ensure(source, {"dataset": "diabetes", "max_rows": 50})
    assert a.data_sha256 == b.data_sha256
    with pytest.raises(DataError, match="'dataset': Input should be 'diabetes' or 'breast_cancer'"):
        DataCache(tmp_path).ensure(source, {"dataset": "iris"})


def test_dataset_subset_any_container() -> None:
    meta = DatasetMetadata("d", "1", provenance="test", licence="CC0")
    inputs = ["a", "b", "c", "d"]
    ds = Dataset(
        inputs,
        np.arange(4.0),
        meta,
        groups=np.array([0, 0, 1, 1]),
        extras={"calc": np.array([10.0, 11.0, 12.0, 13.0]), "names": ("w", "x", "y", "z")},
    )
    sub = ds.subset([3, 1])
    assert sub.inputs == ["d", "b"]
    np.testing.assert_array_equal(sub.targets, [3.0, 1.0])
    np.testing.assert_array_equal(sub.groups, [1, 0])
    np.testing.assert_array_equal(sub.extras["calc"], [13.0, 11.0])
    assert sub.extras["names"] == ("z", "x")
    matrix = Dataset(np.eye(4), None, meta).subset(np.array([2]))
    np.testing.assert_array_equal(matrix.inputs, [[0, 0, 1, 0]])


def test_dataset_rejects_misaligned_rows_and_missing_provenance() -> None:
    meta = DatasetMetadata("d", "1", provenance="test", licence="CC0")
    with pytest.raises(DataError, match="targets has 2 rows, inputs have 3"):
        Dataset(np.zeros((3, 1)), np.zeros(2), meta)
    with pytest.raises(DataError, match="provenance and licence"):
        DatasetMetadata("d", "1", provenance="", licence="CC0")
