"""log_normalise's numba path for raw counts: the formula's bytes, and the numpy way for
anything that is not a matrix of counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from assay_lifesci import normalise
from assay_lifesci.cells import log_normalise
from assay_lifesci.denoising import celltypist_sample_path, read_count_table
from assay_lifesci.normalise import MAX_COUNT, log_normalise_counts


def formula(counts: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """The docstring's whole-matrix formula, in the input's precision."""
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return np.log1p(counts * (1e4 / np.where(totals > 0, totals, 1.0))).astype(np.float32)


def raw_counts(dtype: type) -> npt.NDArray[Any]:
    """Sparse, heavy-tailed counts with an empty cell and a one-count cell."""
    rng = np.random.default_rng(1)
    counts = rng.poisson(0.1, (23, 517)) * rng.geometric(0.05, (23, 517))
    counts[4] = 0
    counts[9] = 0
    counts[9, 100] = 1
    return np.ascontiguousarray(counts, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block_rows", [1, 5, 100])
def test_counts_take_the_kernels_and_give_the_formulas_bytes(
    dtype: type, block_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row totals summed in another order, log1p taken of a table of each cell's counts:
    still the same bytes as log1p of every entry (cached data hash these bytes), with
    blocks of rows ending inside the matrix and at its end."""
    monkeypatch.setattr(normalise, "BLOCK_ENTRIES", block_rows * 517)
    counts = raw_counts(dtype)
    fast = log_normalise_counts(counts, 1e4)
    assert fast is not None
    assert fast.dtype == np.float32
    assert fast.flags.c_contiguous
    assert fast.tobytes() == formula(counts).tobytes()
    assert log_normalise(counts).tobytes() == fast.tobytes()


def test_celltypists_sample_gives_the_formulas_bytes() -> None:
    """The denoising scenario's counts (559 cells x 32,786 genes), as float64 and as
    the float32 an .h5ad of them would give."""
    counts, _ = read_count_table(celltypist_sample_path())
    for matrix in (counts, counts.astype(np.float32)):
        fast = log_normalise_counts(matrix, 1e4)
        assert fast is not None
        assert fast.tobytes() == formula(matrix).tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_largest_count_with_a_table_still_takes_the_kernels(dtype: type) -> None:
    """A cell holding MAX_COUNT gets a table of MAX_COUNT + 1 entries, exactly."""
    counts = raw_counts(dtype)
    counts[17, 3] = MAX_COUNT
    fast = log_normalise_counts(counts, 1e4)
    assert fast is not None
    assert fast.tobytes() == formula(counts).tobytes()


def test_tables_larger_than_their_block_go_the_numpy_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cell's table holds every count up to its largest: with few genes and large
    counts it would outgrow the matrix, so numpy's path is taken."""
    monkeypatch.setattr(normalise, "BLOCK_ENTRIES", 517)
    counts = raw_counts(np.float64)
    counts[17, 3] = 600
    assert log_normalise_counts(counts, 1e4) is None
    assert log_normalise(counts).tobytes() == formula(counts).tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "entry",
    [0.5, 1e-20, 3.000001, -1.0, -0.0, MAX_COUNT + 1.0, np.nan, np.inf],
    ids=["half", "tiny", "near-integer", "negative", "negative-zero", "too-large", "nan", "inf"],
)
def test_anything_but_counts_goes_the_numpy_way(dtype: type, entry: float) -> None:
    """One entry that is not a count of at most MAX_COUNT, even in a cell of otherwise
    plain counts, sends the matrix to the numpy path, which keeps the formula's bytes."""
    counts = raw_counts(dtype)
    counts[11, 20] = entry
    assert log_normalise_counts(counts, 1e4) is None
    if np.isfinite(entry) and entry >= 0:
        assert log_normalise(counts).tobytes() == formula(counts).tobytes()


def test_other_layouts_and_types_keep_the_formulas_bytes() -> None:
    """Integers, column-major and strided matrices go the numpy way, same bytes."""
    counts = raw_counts(np.float64)
    for matrix in (counts.astype(np.int64), np.asfortranarray(counts), counts[:, ::2]):
        assert log_normalise(matrix).tobytes() == formula(matrix).tobytes()


def test_zero_entries_stay_positive_zero_as_on_the_numpy_path() -> None:
    """A negative target sum scales a zero to -0.0 in the formula; both paths leave
    the zeros they skip at +0.0 instead."""
    counts = raw_counts(np.float64)
    fast = log_normalise_counts(counts, -0.5)
    assert fast is not None
    numpy_path = log_normalise(np.asfortranarray(counts), -0.5)
    assert fast.tobytes() == np.ascontiguousarray(numpy_path).tobytes()
    assert not np.signbit(fast[counts == 0]).any()


def test_the_plugins_warm_up_loads_the_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled (or loaded from numba's cache) before a unit's clock starts, like
    scanpy's kernels; then both precisions are ready."""
    from assay_lifesci import annotation
    from assay_lifesci.plugin import plugin

    calls: list[str] = []
    monkeypatch.setattr(annotation, "warm_up", lambda: calls.append("scanpy"))
    monkeypatch.setattr(normalise, "warm_up", lambda: calls.append("normalise"))
    assert plugin.warm_up is not None
    plugin.warm_up()
    assert calls == ["scanpy", "normalise"]
    monkeypatch.undo()
    normalise.warm_up()
    assert len(normalise._row_stats.signatures) == len(normalise._look_up.signatures) == 2
