"""The split of generated (or user) jets: by the generator seeds they came from.

Train, valid and test jets come from disjoint Pythia seeds (or from separate
user files). The "valid" rows travel with the fold as its validation set and
are used as given; without them the core carves the protocol's
`valid_fraction` out of the training rows.
"""

from __future__ import annotations

import numpy as np
from assay.kit import Dataset, Fold, SplitError, Splitter


def generator_seeds(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """Test = the "test" partition, train = "train", valid = "valid" (if any); the same
    for every repeat."""
    del folds, seed
    if dataset.partition is None:
        raise SplitError(
            f"split 'hep.generator_seeds' needs a partition; '{dataset.metadata.name}' has none"
        )
    part = np.asarray(dataset.partition).astype(str)
    unknown = set(np.unique(part)) - {"train", "valid", "test"}
    train = np.flatnonzero(part == "train").astype(np.int64)
    valid = np.flatnonzero(part == "valid").astype(np.int64)
    test = np.flatnonzero(part == "test").astype(np.int64)
    if unknown or len(train) == 0 or len(test) == 0:
        raise SplitError(
            "split 'hep.generator_seeds' needs 'train' and 'test' rows (and optional 'valid'); "
            f"got {sorted(set(np.unique(part)))}"
        )
    return [Fold(r, 0, train, test, valid if len(valid) else None) for r in range(repeats)]


GENERATOR_SEEDS = Splitter(generator_seeds)
