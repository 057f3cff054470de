"""Deterministic, hashed, leak-checked splits.

Every splitter returns folds of index arrays; `make_split` checks them for
leakage (disjoint indices, and with groups no group on both sides) and
hashes them, so a run key pins the exact rows a model saw. Plugins supply
groupings (scaffolds, systems, genome blocks); the splitting lives here.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.data.dataset import Dataset, IndexArray
from assay.errors import SplitError
from assay.registry import Registry


@dataclass(frozen=True)
class Fold:
    """One train/test cut. `repeat` and `index` name it.

    `valid` holds validation rows the data came with (a generated validation
    set, TDC's valid split); the protocol uses them as given. Without them the
    protocol carves validation out of `train` per seed."""

    repeat: int
    index: int
    train: IndexArray
    test: IndexArray
    valid: IndexArray | None = None

    @property
    def name(self) -> str:
        return f"r{self.repeat}f{self.index}"


@dataclass(frozen=True)
class Split:
    kind: str
    folds: tuple[Fold, ...]
    sha256: str
    keeps_groups: bool = False


@dataclass(frozen=True)
class Splitter:
    """A way to cut folds, and whether it keeps the dataset's groups whole.

    `cut(dataset, *, folds, repeats, seed, **params) -> folds`. The leakage
    check, the validation carve and the conformance kit ask `keeps_groups`;
    nothing decides by a split's name. A plugin's group split declares it and
    is then checked for group leakage like the core's."""

    cut: Callable[..., list[Fold]]
    keeps_groups: bool = False

    def __call__(self, dataset: Dataset, **kwargs: Any) -> list[Fold]:
        return self.cut(dataset, **kwargs)


SPLITTERS: Registry[Splitter] = Registry("split")


def _as_folds(
    cuts: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]], repeat: int
) -> list[Fold]:
    return [
        Fold(repeat, i, np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64))
        for i, (tr, te) in enumerate(cuts)
    ]


def _require(dataset: Dataset, field: str, kind: str) -> np.ndarray[Any, Any]:
    value = getattr(dataset, field)
    if value is None:
        raise SplitError(
            f"split '{kind}' needs dataset {field}, but '{dataset.metadata.name}' has none"
        )
    return np.asarray(value)


def kfold(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """Shuffled k-fold, repeated with seeds seed, seed+1, ..."""
    from sklearn import model_selection

    out: list[Fold] = []
    n = len(dataset)
    for r in range(repeats):
        cv = model_selection.KFold(n_splits=folds, shuffle=True, random_state=seed + r)
        out += _as_folds(list(cv.split(np.zeros(n))), r)
    return out


def stratified(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """Stratified k-fold on the (class) targets."""
    from sklearn import model_selection

    y = _require(dataset, "targets", "stratified")
    out: list[Fold] = []
    for r in range(repeats):
        cv = model_selection.StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + r)
        out += _as_folds(list(cv.split(np.zeros(len(y)), y)), r)
    return out


def group_kfold(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """Group k-fold: every group lies wholly in one fold; shuffled group order per repeat."""
    from sklearn import model_selection

    groups = _require(dataset, "groups", "group_kfold")
    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise SplitError(f"group_kfold with {folds} folds needs >= {folds} groups, got {n_groups}")
    out: list[Fold] = []
    for r in range(repeats):
        cv = model_selection.GroupKFold(n_splits=folds, shuffle=True, random_state=seed + r)
        out += _as_folds(list(cv.split(np.zeros(len(groups)), groups=groups)), r)
    return out


def fixed(dataset: Dataset, *, folds: int, repeats: int, seed: int) -> list[Fold]:
    """The dataset's own partition ("train"/"test"); identical for every repeat."""
    del folds, seed
    part = _require(dataset, "partition", "fixed").astype(str)
    train, test = np.flatnonzero(part == "train"), np.flatnonzero(part == "test")
    unknown = set(np.unique(part)) - {"train", "test"}
    if unknown or len(train) == 0 or len(test) == 0:
        raise SplitError(
            f"split 'fixed' needs a partition of 'train' and 'test' rows; got labels "
            f"{sorted(set(np.unique(part)))}"
        )
    return [Fold(r, 0, train.astype(np.int64), test.astype(np.int64)) for r in range(repeats)]


def _balanced_group_order(
    groups: np.ndarray[Any, Any], big_threshold: float, rng: np.random.Generator
) -> list[IndexArray]:
    """Groups larger than `big_threshold` first (largest first), then the rest shuffled.

    This is the balanced scaffold ordering of chemprop and TDC: big groups are
    placed before small ones so that no fold is dominated by one large group
    by chance.
    """
    _, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g).astype(np.int64) for g in range(inverse.max() + 1)]
    big = [m for m in members if len(m) > big_threshold]
    small = [m for m in members if len(m) <= big_threshold]
    rng.shuffle(big)
    big.sort(key=len, reverse=True)  # stable: ties keep their shuffled order
    order = rng.permutation(len(small))
    return big + [small[i] for i in order]


def balanced_group(
    dataset: Dataset, *, folds: int, repeats: int, seed: int, test_fraction: float | None = None
) -> list[Fold]:
    """Balanced group split (largest groups first), as k folds or as one test fraction.

    With `test_fraction` (e.g. 0.2, the TDC protocol) it makes one train/test
    cut per repeat: groups in balanced order fill the train side up to
    1 - test_fraction, the rest go to test. Without it, k folds: each group in
    balanced order joins the fold with the fewest rows so far.
    """
    groups = _require(dataset, "groups", "balanced_group")
    n = len(groups)
    out: list[Fold] = []
    for r in range(repeats):
        rng = np.random.default_rng(seed + r)
        if test_fraction is not None:
            if not 0.0 < test_fraction < 1.0:
                raise SplitError(
                    f"balanced_group test_fraction must be in (0, 1), got {test_fraction}"
                )
            test_size = test_fraction * n
            train_target = n - test_size
            train: list[IndexArray] = []
            test: list[IndexArray] = []
            filled = 0
            for members in _balanced_group_order(groups, test_size / 2, rng):
                if filled + len(members) <= train_target:
                    train.append(members)
                    filled += len(members)
                else:
                    test.append(members)
            if not test:
                raise SplitError("balanced_group could not place any group in the test set")
            out += _as_folds([(np.concatenate(train), np.concatenate(test))], r)
            continue
        if len(np.unique(groups)) < folds:
            raise SplitError(f"balanced_group with {folds} folds needs >= {folds} groups")
        assignment: list[list[IndexArray]] = [[] for _ in range(folds)]
        sizes = np.zeros(folds, dtype=np.int64)
        for members in _balanced_group_order(groups, n / folds / 2, rng):
            target = int(np.argmin(sizes))
            assignment[target].append(members)
            sizes[target] += len(members)
        test_sets = [np.concatenate(a) for a in assignment]
        all_idx = np.arange(n)
        cuts = [(np.setdiff1d(all_idx, te), te) for te in test_sets]
        out += _as_folds(cuts, r)
    return out


def random_holdout(
    dataset: Dataset, *, folds: int, repeats: int, seed: int, test_fraction: float = 0.2
) -> list[Fold]:
    """One shuffled train/test cut per repeat."""
    del folds
    n = len(dataset)
    n_test = max(1, round(test_fraction * n))
    out: list[Fold] = []
    for r in range(repeats):
        perm = np.random.default_rng(seed + r).permutation(n)
        out += _as_folds([(perm[n_test:], perm[:n_test])], r)
    return out


for _name, _splitter in {
    "kfold": Splitter(kfold),
    "stratified": Splitter(stratified),
    "group_kfold": Splitter(group_kfold, keeps_groups=True),
    "fixed": Splitter(fixed),
    "balanced_group": Splitter(balanced_group, keeps_groups=True),
    "random_holdout": Splitter(random_holdout),
}.items():
    SPLITTERS.register(_name, _splitter)


def check_no_leakage(fold: Fold, n: int, groups: np.ndarray[Any, Any] | None = None) -> None:
    """Raise `SplitError` if train, valid and test overlap, fall outside [0, n), or share
    a group (when `groups` is given: the splitter keeps groups whole)."""
    sides = [("train", fold.train), ("test", fold.test)]
    if fold.valid is not None:
        sides.append(("valid", fold.valid))
    for side, idx in sides:
        if len(idx) == 0:
            raise SplitError(f"fold {fold.name}: {side} is empty")
        if idx.min() < 0 or idx.max() >= n:
            raise SplitError(f"fold {fold.name}: {side} indices fall outside 0..{n - 1}")
        if len(np.unique(idx)) != len(idx):
            raise SplitError(f"fold {fold.name}: {side} repeats indices")
    for (name_a, a), (name_b, b) in itertools.combinations(sides, 2):
        overlap = np.intersect1d(a, b)
        if len(overlap):
            raise SplitError(
                f"fold {fold.name}: {len(overlap)} rows are in both {name_a} and {name_b}"
            )
        if groups is not None:
            shared = np.intersect1d(groups[a], groups[b])
            if len(shared):
                raise SplitError(
                    f"fold {fold.name}: {len(shared)} groups are in both {name_a} and {name_b} "
                    f"(e.g. {shared[0]!r})"
                )


def hash_folds(kind: str, folds: list[Fold]) -> str:
    digest = hashlib.sha256(kind.encode())
    for fold in folds:
        digest.update(f"|{fold.repeat}:{fold.index}|".encode())
        digest.update(fold.train.astype("<i8").tobytes())
        digest.update(b"/")
        digest.update(fold.test.astype("<i8").tobytes())
        if fold.valid is not None:
            digest.update(b"|valid/")
            digest.update(fold.valid.astype("<i8").tobytes())
    return digest.hexdigest()


def rows_sha(rows: IndexArray) -> str:
    """Identity of a set of test rows: units with equal ones scored the same examples."""
    return hashlib.sha256(np.sort(rows).astype("<i8").tobytes()).hexdigest()[:16]


def make_split(
    dataset: Dataset,
    kind: str,
    *,
    folds: int,
    repeats: int,
    seed: int,
    params: dict[str, Any] | None = None,
    splitters: Registry[Splitter] | None = None,
) -> Split:
    """Run splitter `kind`, check every fold for leakage (groups too, where the splitter
    keeps them whole), and hash the result."""
    splitter = (splitters or SPLITTERS).get(kind)
    try:
        cuts = splitter(dataset, folds=folds, repeats=repeats, seed=seed, **(params or {}))
    except TypeError as exc:
        raise SplitError(f"split '{kind}': bad parameters {params} ({exc})") from None
    except ValueError as exc:  # scikit-learn's own complaints (too few samples per class, ...)
        raise SplitError(f"split '{kind}' failed on '{dataset.metadata.name}': {exc}") from None
    groups = split_groups(splitter, dataset)
    for fold in cuts:
        check_no_leakage(fold, len(dataset), groups)
    return Split(kind, tuple(cuts), hash_folds(kind, cuts), splitter.keeps_groups)


def split_groups(splitter: Splitter | Split, dataset: Dataset) -> np.ndarray[Any, Any] | None:
    """The groups a leakage check must respect: the dataset's, if the splitter keeps them."""
    if not splitter.keeps_groups or dataset.groups is None:
        return None
    return np.asarray(dataset.groups)


def carve_validation(
    train: IndexArray, fraction: float, seed: int, groups: np.ndarray[Any, Any] | None = None
) -> tuple[IndexArray, IndexArray]:
    """Split training indices into (fit, valid) for early stopping, seeded; groups kept whole."""
    if fraction <= 0:
        return train, np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if groups is None:
        perm = rng.permutation(train)
        n_valid = max(1, round(fraction * len(train)))
        return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])
    train_groups = groups[train]
    unique = rng.permutation(np.unique(train_groups))
    valid_groups: list[Any] = []
    count, target = 0, fraction * len(train)
    sizes = {g: int(c) for g, c in zip(*np.unique(train_groups, return_counts=True), strict=True)}
    for g in unique:
        if count >= target:
            break
        valid_groups.append(g)
        count += sizes[g]
    in_valid = np.isin(train_groups, valid_groups)
    return np.sort(train[~in_valid]), np.sort(train[in_valid])
