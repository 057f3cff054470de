"""The statistics behind every number Assay prints: one module for the runner,
tracking and leaderboards.

Two designs, chosen by what the units measured, never by a split's name:

- **Cross-validation** (units with different test rows: folds x repeats).
  Seeds of one fold are averaged first, so a deterministic model repeated
  over seeds counts once. The interval and the paired comparison use the
  corrected resampled t-test of Nadeau & Bengio (2003), whose variance factor
  1/J + n_test/n_train accounts for the overlap of the training sets
  (Bouckaert & Frank, 2004, for repeated k-fold).
- **A fixed test set** (every unit scored the same rows: one unit, seeds
  only). A paired bootstrap over test examples, from the stored predictions:
  every resample draws the same rows for every model, each metric is
  recomputed on it (averaged over seeds), the 2.5 and 97.5 percentiles give
  the interval, and two models differ only when the interval of their
  difference excludes zero.

- **Independent seeds** (closed-loop campaigns: every seed a new initial
  design and new noise, the same seeds for every policy). A t-interval over
  seeds, and a paired t-test over the seeds two policies share. Discovery
  curves (best-so-far or top-k recall against evaluations) are summarised
  by their median and interquartile band over seeds, and set against the
  random policy with the enhancement and acceleration factors of Liang et
  al. (npj Comput. Mater. 7, 188, 2021), on the same seeds.

Where none is possible (one fold without predictions), no interval is
claimed and the model ties with its neighbours.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 2003
"""Fixed, so a board rebuilt from the same runs prints the same intervals."""

CV_METHOD = "corrected resampled t-test (Nadeau & Bengio 2003) over folds x repeats"
BOOTSTRAP_METHOD = f"paired bootstrap over test examples ({BOOTSTRAP_RESAMPLES} resamples)"
NO_TEST = "none: one result and no stored predictions, so no interval and no rank claimed"

SEEDS_METHOD = "t-test paired over seeds (independent campaigns, the same seeds for every policy)"
DETERMINISTIC = (
    "the same result on every seed: deterministic, so seeds give it no interval; "
    "it is ranked only by the paired test over the other entry's seeds"
)

UnitKey = tuple[str, int]
"""(unit, seed): one unit run."""


@dataclass(frozen=True)
class MetricSummary:
    mean: float
    std: float
    """Spread across folds (seeds averaged first); NaN with fewer than two."""
    ci95: tuple[float, float] | None
    """None when no interval can be claimed."""
    n: int
    """Independent results behind the interval: folds x repeats, or test examples."""
    method: str
    bound: str = ""
    """"lower" or "upper" when the mean is only a bound (some unit's value was capped)."""


def clipped(summary: MetricSummary, bounds: tuple[float, float] | None) -> MetricSummary:
    """The summary with its interval cut to the values the metric can take: a t-interval
    over few folds can pass 1 for an MCC, which no result could reach."""
    if bounds is None or summary.ci95 is None:
        return summary
    low, high = summary.ci95
    return replace(summary, ci95=(max(low, bounds[0]), min(high, bounds[1])))


def fold_means(values: Mapping[UnitKey, float]) -> dict[str, float]:
    """One value per unit: seeds of the same fold averaged, so identical results count once."""
    by_unit: dict[str, list[float]] = defaultdict(list)
    for (unit, _seed), value in values.items():
        by_unit[unit].append(value)
    return {unit: float(np.mean(v)) for unit, v in sorted(by_unit.items())}


def describe(values: Mapping[UnitKey, float]) -> tuple[float, float, int]:
    """Mean, std and count over folds (seeds averaged first): the one mean +- std in Assay."""
    per_fold = np.array(list(fold_means(values).values()), dtype=float)
    if per_fold.size == 0:
        return float("nan"), float("nan"), 0
    std = float(per_fold.std(ddof=1)) if per_fold.size > 1 else float("nan")
    return float(per_fold.mean()), std, int(per_fold.size)


def _corrected_scale(variance: float, folds: int, test_train_ratio: float) -> float:
    return math.sqrt((1.0 / folds + test_train_ratio) * variance)


def cv_summary(values: Mapping[UnitKey, float], test_train_ratio: float) -> MetricSummary:
    """Mean, std and the corrected t-interval over folds x repeats."""
    mean, std, folds = describe(values)
    if folds < 2:
        return MetricSummary(mean, std, None, folds, NO_TEST)
    if std == 0:  # every fold alike: the data carry no spread to build an interval from
        return MetricSummary(mean, std, None, folds, CV_METHOD)
    half = float(scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, folds - 1)) * _corrected_scale(
        std**2, folds, test_train_ratio
    )
    return MetricSummary(mean, std, (mean - half, mean + half), folds, CV_METHOD)


def cv_differ(
    a: Mapping[UnitKey, float], b: Mapping[UnitKey, float], test_train_ratio: float
) -> bool:
    """Corrected resampled paired t-test over the folds both ran (seeds averaged first)."""
    fa, fb = fold_means(a), fold_means(b)
    shared = sorted(set(fa) & set(fb))
    if len(shared) < 2:
        return False  # no test possible: tie
    diff = np.array([fa[k] - fb[k] for k in shared])
    if np.allclose(diff, 0.0):
        return False
    variance = float(diff.var(ddof=1))
    if variance == 0.0:  # the same non-zero difference on every fold
        return True
    t = float(diff.mean()) / _corrected_scale(variance, len(shared), test_train_ratio)
    p = 2 * float(scipy_stats.t.sf(abs(t), len(shared) - 1))
    return p < 1 - CONFIDENCE


def uncorrected_differ(a: Mapping[UnitKey, float], b: Mapping[UnitKey, float]) -> bool:
    """The naive paired t-test over every (fold, seed) pair, kept only to show what the
    correction changes; nothing ranks with it."""
    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        return False
    x, y = np.array([a[k] for k in shared]), np.array([b[k] for k in shared])
    if np.allclose(x - y, 0.0):
        return False
    return bool(scipy_stats.ttest_rel(x, y).pvalue < 1 - CONFIDENCE)


def _constant(values: npt.NDArray[np.float64]) -> bool:
    """Equal up to rounding (0.6 and 0.6000000000000001 are the same result)."""
    return bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())))


def seed_summary(values: Mapping[UnitKey, float]) -> MetricSummary:
    """Mean, std and the t-interval over independent seeds (every (unit, seed) counts).

    An entry with the same result on every seed is deterministic: seeds carry no
    spread to build an interval from, so it gets none (never a zero-width one)."""
    raw = np.array(list(values.values()), dtype=float)
    if raw.size == 0:
        return MetricSummary(float("nan"), float("nan"), None, 0, SEEDS_METHOD)
    mean = float(raw.mean())
    if raw.size < 2:
        return MetricSummary(mean, float("nan"), None, 1, SEEDS_METHOD)
    if _constant(raw):
        return MetricSummary(mean, 0.0, None, int(raw.size), DETERMINISTIC)
    std = float(raw.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, raw.size - 1)) * std / math.sqrt(raw.size)
    return MetricSummary(mean, std, (mean - half, mean + half), int(raw.size), SEEDS_METHOD)


def seeds_differ(a: Mapping[UnitKey, float], b: Mapping[UnitKey, float]) -> bool:
    """Paired t-test over the (unit, seed) pairs both ran.

    Against a deterministic entry this is a one-sample t-test of the other's seeds
    against its constant. Two deterministic entries cannot be separated by seeds at
    all (one result each, no spread): they tie."""
    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        return False
    if _constant(np.array([a[k] for k in shared])) and _constant(np.array([b[k] for k in shared])):
        return False
    diff = np.array([a[k] - b[k] for k in shared])
    if np.allclose(diff, 0.0):
        return False
    if float(diff.var(ddof=1)) == 0.0:
        return True
    return bool(scipy_stats.ttest_1samp(diff, 0.0).pvalue < 1 - CONFIDENCE)


@dataclass(frozen=True)
class Band:
    """A discovery curve over seeds: median and interquartile band per evaluation count."""

    evaluations: list[int]
    median: list[float]
    q25: list[float]
    q75: list[float]
    seeds: int


def discovery_band(curves: Mapping[UnitKey, npt.NDArray[np.float64]]) -> Band:
    """Median and quartiles over seeds of curves of equal length (value after n evaluations)."""
    stacked = np.vstack(list(curves.values()))
    low, mid, high = np.percentile(stacked, [25, 50, 75], axis=0)
    return Band(
        list(range(1, stacked.shape[1] + 1)),
        mid.tolist(),
        low.tolist(),
        high.tolist(),
        int(stacked.shape[0]),
    )


def enhancement_factor(
    policy: Mapping[UnitKey, npt.NDArray[np.float64]],
    reference: Mapping[UnitKey, npt.NDArray[np.float64]],
    evaluations: int,
) -> float:
    """Liang et al.'s EF: the policy's mean performance after `evaluations` over random's,
    on the seeds both ran; NaN where random's is zero."""
    shared = sorted(set(policy) & set(reference))
    if not shared:
        return float("nan")
    mine = float(np.mean([policy[k][evaluations - 1] for k in shared]))
    theirs = float(np.mean([reference[k][evaluations - 1] for k in shared]))
    return mine / theirs if theirs != 0 else float("nan")


def acceleration_factor(
    policy: Mapping[UnitKey, npt.NDArray[np.float64]],
    reference: Mapping[UnitKey, npt.NDArray[np.float64]],
    evaluations: int,
) -> float:
    """Liang et al.'s AF: how many evaluations random needs to reach a performance, over
    how many the policy needs, on the seeds both ran (mean curves). The target is what
    random reaches after `evaluations`; NaN when the policy never reaches it."""
    shared = sorted(set(policy) & set(reference))
    if not shared:
        return float("nan")
    mine = np.mean([policy[k][:evaluations] for k in shared], axis=0)
    theirs = np.mean([reference[k][:evaluations] for k in shared], axis=0)
    target = theirs[-1]
    needed_random = int(np.argmax(theirs >= target)) + 1
    reached = np.flatnonzero(mine >= target)
    if reached.size == 0:
        return float("nan")
    return needed_random / (int(reached[0]) + 1)


@dataclass(frozen=True)
class Resamples:
    """The resampled test rows, drawn again identically for every model of a board (that
    is what pairs them), one resample at a time: 1,000 copies of 200,000 rows would not
    fit in memory."""

    n_rows: int
    count: int = BOOTSTRAP_RESAMPLES

    def __iter__(self) -> Iterator[npt.NDArray[np.int64]]:
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        for _ in range(self.count):
            yield rng.integers(0, self.n_rows, size=self.n_rows, dtype=np.int64)


def bootstrap_values(
    metric: Callable[[npt.NDArray[np.int64]], float], resamples: Resamples
) -> npt.NDArray[np.float64]:
    """The metric on every resample; `metric(rows)` scores the model on those test rows.

    A resample on which the metric is undefined (one class drawn only) is NaN
    and left out of the percentiles."""
    out = np.empty(resamples.count, dtype=np.float64)
    for b, rows in enumerate(resamples):
        try:
            out[b] = metric(rows)
        except ValueError:
            out[b] = np.nan
    return out


def bootstrap_summary(
    point: float, resampled: npt.NDArray[np.float64], n_rows: int, std: float = float("nan")
) -> MetricSummary:
    finite = resampled[np.isfinite(resampled)]
    if finite.size < 0.9 * resampled.size or np.ptp(finite) == 0:
        return MetricSummary(point, std, None, n_rows, BOOTSTRAP_METHOD)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return MetricSummary(point, std, (float(low), float(high)), n_rows, BOOTSTRAP_METHOD)


def bootstrap_differ(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> bool:
    """Paired: both arrays come from the same resampled rows."""
    diff = a - b
    diff = diff[np.isfinite(diff)]
    if diff.size < 0.9 * a.size or np.allclose(diff, 0.0):
        return False
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(diff, [tail, 100 - tail])
    return bool(low > 0 or high < 0)


@dataclass
class Ranked:
    """What ranking needs of one entry: its mean and a way to test it against another."""

    name: str
    mean: float


def rank_with_ties(
    entries: Sequence[Ranked], maximize: bool, differ: Callable[[str, str], bool]
) -> dict[str, int]:
    """Competition ranks on the mean; an entry the test cannot separate from the leader
    of the current tie group shares that leader's rank. NaN means go last."""

    def order(e: Ranked) -> tuple[bool, float]:
        nan = not math.isfinite(e.mean)
        return nan, (-e.mean if maximize else e.mean) if not nan else 0.0

    ranks: dict[str, int] = {}
    leader: Ranked | None = None
    for position, entry in enumerate(sorted(entries, key=order), start=1):
        if leader is not None and not differ(leader.name, entry.name):
            ranks[entry.name] = ranks[leader.name]
        else:
            ranks[entry.name], leader = position, entry
    return ranks


BOUND_SIGNS = {"lower": "≥", "upper": "≤"}


def fmt_bounded(text: str, bound: str = "") -> str:
    """`≥ 222` for a lower bound, `≤ ...` for an upper one, the text alone otherwise."""
    sign = BOUND_SIGNS.get(bound)
    return f"{sign} {text}" if sign and text != "-" else text


def fmt_mean_std(mean: float, std: float, digits: int = 4, bound: str = "") -> str:
    """`mean ± std`, or the mean alone where no spread was measured (never `± 0`);
    `≥ mean` where the mean is a lower bound (`≤` an upper one)."""
    if not math.isfinite(mean):
        return "-"
    # A spread at rounding level (1e-16 across identical folds) is no spread.
    if not math.isfinite(std) or std <= 1e-12 * max(1.0, abs(mean)):
        return fmt_bounded(f"{mean + 0.0:.{digits}g}", bound)
    return fmt_bounded(f"{mean + 0.0:.{digits}g} ± {std:.2g}", bound)


def interval_text(summary: MetricSummary, digits: int = 4) -> str:
    """The 95 % interval as boards print it: `deterministic` where seeds gave one result."""
    if summary.method == DETERMINISTIC:
        return "deterministic"
    return fmt_interval(summary.ci95, digits)


def fmt_interval(ci: tuple[float, float] | None, digits: int = 4) -> str:
    if ci is None:
        return "n/a"
    return f"[{ci[0] + 0.0:.{digits}g}, {ci[1] + 0.0:.{digits}g}]"
