"""The split of generated (or user) jets: by the generator seeds they came from.

Train, valid and test jets come from disjoint Pythia seeds (or from separate
user files). The core's `fixed` split knows only "train" and "test", so this
one puts the "valid" rows on the training side; the core then carves the
protocol's `valid_fraction` out of it for early stopping.
"""

from __future__ import annotations

import numpy as np
from assay.data import Dataset
from assay.errors import SplitError
from assay.splits import Fold


def generator_seeds(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """Test = the "test" partition; train = "train" and "valid"; the same for every repeat."""
    del folds, seed
    if dataset.partition is None:
        raise SplitError(
            f"split 'hep.generator_seeds' needs a partition; '{dataset.metadata.name}' has none"
        )
    part = np.asarray(dataset.partition).astype(str)
    unknown = set(np.unique(part)) - {"train", "valid", "test"}
    train = np.flatnonzero((part == "train") | (part == "valid")).astype(np.int64)
    test = np.flatnonzero(part == "test").astype(np.int64)
    if unknown or len(train) == 0 or len(test) == 0:
        raise SplitError(
            "split 'hep.generator_seeds' needs 'train' and 'test' rows (and optional 'valid'); "
            f"got {sorted(set(np.unique(part)))}"
        )
    return [Fold(r, 0, train, test) for r in range(repeats)]
