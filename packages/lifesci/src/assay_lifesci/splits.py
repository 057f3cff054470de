"""Open Problems' label-projection split: whole batches held out (light: imported by the plugin)."""

from __future__ import annotations

import numpy as np
from assay.kit import Dataset, Fold, SplitError, Splitter


def held_out_batches(
    dataset: Dataset, *, folds: int, repeats: int, seed: int, test_batch: str | None = None
) -> list[Fold]:
    """Open Problems' label projection: train on the other batches, test on one held out.

    Each batch is held out once (batches in sorted order), or only `test_batch`.
    `folds`, `repeats` and `seed` do not apply: the batches fix the cut."""
    del folds, repeats, seed
    if dataset.groups is None:
        raise SplitError(
            f"split 'lifesci.held_out_batch' needs batches; '{dataset.metadata.name}' has none"
        )
    batches = np.asarray(dataset.groups).astype(str)
    names = sorted(set(batches.tolist()))
    if test_batch is not None:
        if test_batch not in names:
            raise SplitError(f"test_batch '{test_batch}' is not a batch (batches: {names})")
        names = [test_batch]
    if len(set(batches.tolist())) < 2:
        raise SplitError("label projection needs at least two batches")
    rows = np.arange(len(batches), dtype=np.int64)
    return [
        Fold(0, i, rows[batches != name], rows[batches == name]) for i, name in enumerate(names)
    ]


HELD_OUT_BATCH = Splitter(held_out_batches, keeps_groups=True)
