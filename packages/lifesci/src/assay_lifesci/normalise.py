"""numba kernels behind `cells.log_normalise` for raw counts held as C-ordered floats.

In a cell the scaled value of a count depends on the count alone, and a cell holds few
distinct counts (celltypist's sample: about 40, the largest 1,448). So each block of
rows is read once for its totals, numpy's log1p is taken of `v * factor` for every
count v from 0 to the cell's largest (a small table per cell) and the output is looked
up in it: the same numbers as log1p of every entry, as they come from the same numpy
operations on the same inputs, without a pass over the zeros for each step.

A row total summed in another order than numpy's is still the same number when every
entry is a non-negative integer and the total stays below 2**mantissa bits (every
partial sum is then exact). A matrix with anything else (fractions, negatives, -0.0,
NaN, a count beyond `MAX_COUNT`, tables that would outgrow their block) returns None:
the caller's numpy path handles it.

Imported only when a matrix is normalised, as numba takes a moment to import; the
kernels are compiled once per machine (`cache=True`) and loaded by `warm_up`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

BLOCK_ENTRIES = 1 << 20
"""Entries per block of rows: read from memory for the totals, then again from cache."""
MAX_COUNT = 1 << 16
"""Largest count given a table entry; a matrix holding more goes the numpy way."""


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _row_stats(
    x: Any, bits: Any, start: int, stop: int, totals: Any, fractional: Any, peaks: Any
) -> None:
    """Per row: the total (in any order, which is what lets it vectorise: see the
    module), the number of entries that are not integers (NaN included) and the largest
    bit pattern, which is the largest value's when no entry has its sign bit set."""
    for i in range(start, stop):
        row, row_bits = x[i], bits[i]
        total, n_fractional, peak = 0.0, 0, row_bits[0]
        for j in range(row.size):
            value = row[j]
            total += value
            n_fractional += value != np.floor(value)
            peak = max(peak, row_bits[j])
        totals[i], fractional[i], peaks[i] = total, n_fractional, peak


@njit(cache=True, nogil=True)
def _look_up(x: Any, start: int, stop: int, tables: Any, offsets: Any, out: Any) -> None:
    """`out[i, j] = tables[offsets[i] + x[i, j]]` (unsigned indices: no wrap-around test)."""
    for i in range(start, stop):
        row, out_row, offset = x[i], out[i], offsets[i]
        for j in range(row.size):
            out_row[j] = tables[offset + np.uint64(row[j])]


def log_normalise_counts(
    counts: npt.NDArray[np.floating[Any]], target_sum: float
) -> npt.NDArray[np.float32] | None:
    """`cells.log_normalise` of a C-ordered float64 or float32 count matrix, the same
    bytes; None when `counts` is not a matrix of counts (see the module)."""
    n_rows, n_columns = counts.shape
    dtype = counts.dtype
    bits = counts.view(f"u{dtype.itemsize}")
    exact_below = 2.0 ** np.finfo(dtype).nmant
    totals, fractional = np.empty(n_rows), np.empty(n_rows, dtype=np.intp)
    peaks = np.empty(n_rows, dtype=bits.dtype)
    # Non-negative floats order as their bit patterns do; any sign bit is above these.
    max_bits = np.array(MAX_COUNT, dtype=dtype).view(bits.dtype)
    offsets = np.zeros(n_rows, dtype=np.uint64)
    out = np.empty(counts.shape, dtype=np.float32)
    rows_per_block = max(1, BLOCK_ENTRIES // n_columns)
    for start in range(0, n_rows, rows_per_block):
        stop = min(start + rows_per_block, n_rows)
        _row_stats(counts, bits, start, stop, totals, fractional, peaks)
        block_totals = totals[start:stop]
        if (
            fractional[start:stop].any()
            or np.any(peaks[start:stop] > max_bits)
            or not np.all(block_totals < exact_below)
        ):
            return None
        widths = peaks[start:stop].view(dtype).astype(np.intp) + 1
        n_entries = int(widths.sum())
        if n_entries > max(BLOCK_ENTRIES, (stop - start) * n_columns):
            return None  # tables larger than the block: no gain, and memory
        # The formula's factor: target_sum / total in the input's precision.
        total = block_totals.astype(dtype)
        factor = target_sum / np.where(total > 0, total, 1.0)
        starts = np.cumsum(widths) - widths
        offsets[start:stop] = starts
        count = np.arange(n_entries)
        count -= np.repeat(starts, widths)  # each cell's counts, 0 to its largest
        scaled = count.astype(dtype)
        scaled *= np.repeat(factor, widths)
        tables = np.log1p(scaled, out=scaled).astype(np.float32)
        tables[starts] = 0.0  # a zero entry stays +0.0 whatever the factor
        _look_up(counts, start, stop, tables, offsets, out)
    return out


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels for float64 and float32."""
    for dtype in (np.float64, np.float32):
        log_normalise_counts(np.ones((2, 3), dtype=dtype), 1e4)
