"""Matbench's folds and leave-one-group-out, as core `Splitter`s.

Matbench (Dunn et al., npj Comput. Mater. 6, 138, 2020) scores every task
on `KFold(5, shuffle=True, random_state=18012019)` over the task's rows in
file order; `materials.matbench` reproduces exactly those folds, whatever
split seed a scenario gives. Leave-one-group-out holds out one chemical (or
binary) system per fold.
"""

from __future__ import annotations

import numpy as np
from assay.kit import Dataset, Fold, SplitError, Splitter

MATBENCH_SEED = 18012019
MATBENCH_FOLDS = 5


def matbench_folds(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """Matbench's five folds; `repeats` > 1 would only repeat them, so it is refused."""
    del seed  # Matbench fixes it
    if folds != MATBENCH_FOLDS or repeats != 1:
        raise SplitError(
            f"split 'materials.matbench' is Matbench's 5 folds once; got folds={folds}, "
            f"repeats={repeats}"
        )
    from sklearn.model_selection import KFold

    cv = KFold(n_splits=MATBENCH_FOLDS, shuffle=True, random_state=MATBENCH_SEED)
    return [
        Fold(0, i, np.sort(train).astype(np.int64), np.sort(test).astype(np.int64))
        for i, (train, test) in enumerate(cv.split(np.zeros(len(dataset))))
    ]


def leave_one_group_out(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """One fold per group (sorted by name); `folds` must be 0 (all groups) or their number."""
    del seed
    if dataset.groups is None:
        raise SplitError(
            f"split 'materials.leave_one_group_out' needs groups; '{dataset.metadata.name}' has none"
        )
    groups = np.asarray(dataset.groups)
    names = np.unique(groups)
    if len(names) < 2:
        raise SplitError("split 'materials.leave_one_group_out' needs at least 2 groups")
    if folds not in (0, len(names)):
        raise SplitError(
            f"split 'materials.leave_one_group_out' makes one fold per group ({len(names)} "
            f"here); set folds = {len(names)} or 0, not {folds}"
        )
    out = []
    for r in range(repeats):
        for i, name in enumerate(names):
            test = np.flatnonzero(groups == name).astype(np.int64)
            train = np.flatnonzero(groups != name).astype(np.int64)
            out.append(Fold(r, i, train, test))
    return out


MATBENCH = Splitter(matbench_folds)
LEAVE_ONE_GROUP_OUT = Splitter(leave_one_group_out, keeps_groups=True)
