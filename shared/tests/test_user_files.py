"""The core's base for sources that copy a user's files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from assay.data.cache import DataCache
from assay.data.dataset import (
    Dataset,
    DatasetMetadata,
    SourceParams,
    read_array,
    write_array,
)
from assay.data.user_files import UserFileSource, require_varying_target
from assay.errors import CacheError, DataError


class TableParams(SourceParams):
    path: str = ""


class TableSource(UserFileSource):
    """Numbers, one per line, from the file under `path`."""

    name = "test.table"
    params_model = TableParams

    def input_files(self, params: Mapping[str, Any]) -> list[Path]:
        return [self.given_path(params)]

    def prepare(self, params: Mapping[str, Any], out_dir: Path) -> None:
        values = np.loadtxt(self.given_path(params), ndmin=1)
        write_array(out_dir / "y.npy", values)

    def load(self, params: Mapping[str, Any], files_dir: Path) -> Dataset:
        y = read_array(files_dir / "y.npy")
        meta = DatasetMetadata(name="table", version="1", provenance="user", licence="user")
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
