"""The extrapolation split of error mitigation: shallow circuits train, deep ones test."""

from __future__ import annotations

import numpy as np
from assay.kit import Dataset, Fold, SplitError, Splitter


def by_steps(
    dataset: Dataset, *, folds: int, repeats: int, seed: int, max_train_steps: int = 10
) -> list[Fold]:
    """Rows with steps <= `max_train_steps` train, the deeper rows test; the same every repeat."""
    del folds, seed
    if "steps" not in dataset.extras:
        raise SplitError(
            f"split 'quantum.by_steps' needs extras['steps'] in '{dataset.metadata.name}'"
        )
    steps = np.asarray(dataset.extras["steps"])
    train = np.flatnonzero(steps <= max_train_steps).astype(np.int64)
    test = np.flatnonzero(steps > max_train_steps).astype(np.int64)
    if len(train) == 0 or len(test) == 0:
        raise SplitError(
            f"split 'quantum.by_steps' with max_train_steps={max_train_steps} leaves one side "
            f"empty (steps range {steps.min()}-{steps.max()})"
        )
    return [Fold(r, 0, train, test) for r in range(repeats)]


BY_STEPS = Splitter(by_steps)
