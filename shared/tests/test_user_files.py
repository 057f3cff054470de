"""The core's base for sources that copy a user's files."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from assay.data.cache import DataCache
from assay.data.dataset import (
    Dataset,
    SourceParams,
    read_array,
    sha256_file,
    write_array,
)
from assay.data.user_files import (
    USER_LICENCE,
    FingerprintParams,
    UserFileSource,
    identify,
    require_varying_target,
    user_file_card,
)
from assay.errors import CacheError, DataError


class TableParams(SourceParams):
    path: str = ""


class TableSource(UserFileSource[TableParams]):
    """Numbers, one per line, from the file under `path`."""

    name = "test.table"
    params_model = TableParams

    def input_files(self, params: TableParams) -> list[Path]:
        return [self.given_path(params)]

    def prepare(self, params: TableParams, out_dir: Path) -> None:
        values = np.loadtxt(self.given_path(params), ndmin=1)
        write_array(out_dir / "y.npy", values)

    def load(self, params: TableParams, files_dir: Path) -> Dataset:
        y = read_array(files_dir / "y.npy")
        meta = self.user_metadata(params, files_dir, name="table")
        return Dataset(inputs=y[:, None], targets=y, metadata=meta)


def test_a_missing_or_absent_file_is_one_line(tmp_path: Path) -> None:
    source = TableSource()
    with pytest.raises(DataError, match=r"^test.table: no file given; pass --data PATH"):
        source.validate_params({})
    with pytest.raises(DataError, match=r"^test.table: .*nope.txt not found"):
        source.validate_params({"path": str(tmp_path / "nope.txt")})
    with pytest.raises(DataError, match=r"unknown key|extra"):
        source.validate_params({"path": "x", "colour": 1})


def test_an_edited_file_is_read_again_and_a_tampered_copy_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "y.txt"
    table.write_text("1\n2\n3\n")
    cache, source, params = DataCache(tmp_path / "cache"), TableSource(), {"path": str(table)}
    first, _ = cache.load(source, params)
    assert first.targets is not None
    assert first.targets.tolist() == [1, 2, 3]
    table.write_text("4\n5\n")
    second, entry = cache.load(source, params)
    assert second.targets is not None
    assert second.targets.tolist() == [4, 5]
    assert not source.rebuildable
    (entry.path / "y.npy").write_bytes(b"tampered")
    with pytest.raises(CacheError, match="not rebuilt automatically"):
        cache.load(source, params)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (np.zeros(8), "pheno.fam: column 6 is 0 in all 8 rows given, nothing to learn; fix it"),
        (
            np.full(4, np.nan),
            "pheno.fam: column 6 is missing in every row, nothing to learn; fix it",
        ),
        (
            np.array(["B", "B", None], dtype=object),
            "pheno.fam: column 6 is 'B' in all 2 rows given",
        ),
    ],
    ids=["all-zero", "all-missing", "one-label"],
)
def test_a_target_without_variation_is_refused_in_one_line(values: Any, says: str) -> None:
    with pytest.raises(DataError) as info:
        require_varying_target(values, file="pheno.fam", column="column 6", hint="fix it")
    assert str(info.value).startswith(says)
    assert "\n" not in str(info.value)


def test_a_varying_target_passes() -> None:
    require_varying_target(np.array([0.0, np.nan, 1.0]), file="x.csv", column="y")
    require_varying_target(np.array(["a", "b"]), file="x.csv", column="y")


class BigTableParams(FingerprintParams):
    path: str = ""


class BigTableSource(TableSource):
    """The table source with the size-and-mtime option, known by stamp above 100 bytes."""

    name = "test.big_table"
    params_model = BigTableParams
    size_mtime_above = 100


def touch(path: Path, seconds: int) -> None:
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))


def test_a_small_file_is_known_by_its_content(tmp_path: Path) -> None:
    table = tmp_path / "y.txt"
    table.write_text("1\n2\n3\n")
    source, params = BigTableSource(), BigTableParams(path=str(table))
    (identity,) = source.identities(params)
    assert identity.sha256 == sha256_file(table) == identity.stamp
    key = source.fingerprint(params)
    touch(table, 1_700_000_000)
    assert source.fingerprint(params) == key  # same bytes: same key
    # the keys users had before the option
    assert key == TableSource().fingerprint(TableParams(path=str(table)))


@pytest.mark.parametrize("opted", [False, True], ids=["above-threshold", "opted-in"])
def test_a_large_or_opted_in_file_is_known_by_size_and_mtime(tmp_path: Path, opted: bool) -> None:
    table = tmp_path / "y.txt"
    table.write_text("1\n2\n3\n" if opted else "1\n" * 60)
    params = {"path": str(table)} | ({"fingerprint": "size-mtime"} if opted else {})
    cache, source = DataCache(tmp_path / "cache"), BigTableSource()
    touch(table, 1_700_000_000)
    (identity,) = source.identities(BigTableParams(**params))
    assert identity.sha256 is None
    assert identity.stamp == f"size-mtime:{table.resolve()}:{table.stat().st_size}:{17 * 10**17}"
    dataset, entry = cache.load(source, params)
    card = dataset.metadata
    assert "size-and-mtime fingerprint, not a content hash" in card.provenance
    assert "sha256" not in card.provenance
    assert f"{table.stat().st_size:,} bytes" in card.provenance
    (note,) = card.notes
    assert note.startswith("y.txt is known to the cache by path, size and modification time")
    touch(table, 1_700_000_001)  # touched, not edited: a new key all the same
    assert cache.entry_path(source, params).name != entry.key


def test_a_folder_above_the_threshold_is_stamped_file_by_file(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "a.txt").write_text("1\n" * 40)
    (folder / "b.txt").write_text("2\n" * 40)
    (identity,) = identify([folder], "auto", 100)
    assert (identity.sha256, identity.files, identity.size) == (None, 2, 160)
    touch(folder / "b.txt", 1_700_000_000)
    (after,) = identify([folder], "auto", 100)
    assert after.stamp != identity.stamp
    (hashed,) = identify([folder], "sha256", 100)
    assert hashed.sha256 == hashed.stamp
    assert "of its 2 files" in hashed.describe()


def test_the_fingerprint_option_is_checked(tmp_path: Path) -> None:
    table = tmp_path / "y.txt"
    table.write_text("1\n2\n3\n")
    with pytest.raises(DataError, match="fingerprint"):
        BigTableSource().validate_params({"path": str(table), "fingerprint": "mtime"})
    with pytest.raises(DataError, match="fingerprint"):  # a source without the option
        TableSource().validate_params({"path": str(table), "fingerprint": "size-mtime"})


def test_the_card_names_the_file_its_sha_size_day_read_and_licence(tmp_path: Path) -> None:
    table = tmp_path / "y.txt"
    table.write_text("1\n2\n3\n")
    cache, source, params = DataCache(tmp_path / "cache"), TableSource(), {"path": str(table)}
    entry = cache.ensure(source, params)
    card = source.user_metadata(
        TableParams(**params), entry.path, name="table", details="3 rows", notes=["from the test"]
    )
    day = datetime.fromtimestamp((entry.path / "manifest.json").stat().st_mtime, UTC)
    assert card.provenance == (
        f"user file {table.resolve()} (sha256 {sha256_file(table)[:16]}, 6 bytes); "
        f"read {day:%Y-%m-%d}; 3 rows"
    )
    assert card.licence == USER_LICENCE
    assert card.notes == ("from the test",)
    two = user_file_card(identify([table, table], "sha256", None), what="user tables")
    listed = f"{table} (sha256 {sha256_file(table)[:16]}, 6 bytes)"
    assert two.provenance == f"user tables {listed}, {listed}"  # no day read: no cache entry


def test_a_card_names_five_files_and_counts_the_rest(tmp_path: Path) -> None:
    paths = []
    for i in range(7):
        paths.append(tmp_path / f"jets_{i}.root")
        paths[-1].write_bytes(b"x" * 1000)
    card = user_file_card(identify(paths, "size-mtime", None))
    assert card.provenance.count(" bytes, modified ") == 5
    assert card.provenance.endswith(", and 2 more (7,000 bytes in all)")
    (note,) = card.notes
    assert note.startswith("jets_0.root, jets_1.root, jets_2.root, jets_3.root, jets_4.root and 2")
