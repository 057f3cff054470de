from __future__ import annotations

import numpy as np
import pytest
from assay.evaluation.metrics import BUILTIN_METRICS
from assay.evaluation.predictions import Predictions
from assay.evaluation.stats import (
    CV_METHOD,
    Ranked,
    Resamples,
    bootstrap_differ,
    bootstrap_summary,
    bootstrap_values,
    cv_differ,
    cv_summary,
    describe,
    rank_with_ties,
    uncorrected_differ,
)

RMSE = next(m for m in BUILTIN_METRICS if m.name == "rmse")


def cv_values(per_fold: list[float], seeds: int = 1) -> dict[tuple[str, int], float]:
    """5 folds x 3 repeats named like the supervised protocol names them."""
    names = [f"r{r}f{f}" for r in range(3) for f in range(5)]
    return {(name, s): v for name, v in zip(names, per_fold, strict=True) for s in range(seeds)}


def test_seeds_of_a_deterministic_model_count_once() -> None:
    folds = [1.0, 2.0, 3.0] + [2.0] * 12
    once, thrice = cv_values(folds), cv_values(folds, seeds=3)
    assert describe(once) == describe(thrice)
    assert cv_summary(once, 0.25) == cv_summary(thrice, 0.25)


def test_corrected_interval_is_wider_than_the_naive_one() -> None:
    rng = np.random.default_rng(0)
    folds = list(2.0 + 0.1 * rng.standard_normal(15))
    summary = cv_summary(cv_values(folds), test_train_ratio=0.25)
    assert summary.method == CV_METHOD
    assert summary.ci95 is not None
    naive_half = 2.145 * np.std(folds, ddof=1) / np.sqrt(15)  # t(0.975, 14)
    corrected_half = (summary.ci95[1] - summary.ci95[0]) / 2
    assert corrected_half == pytest.approx(naive_half * np.sqrt(1 + 15 * 0.25), rel=1e-3)


def test_a_small_cv_lead_ties_where_the_uncorrected_test_would_separate() -> None:
    """5 x 3 CV: B beats A by less than the corrected interval."""
    rng = np.random.default_rng(1)
    base = 1.0 + 0.2 * rng.standard_normal(15)
    noise = rng.standard_normal(15)
    diff = 0.1 + 0.13 * (noise - noise.mean()) / noise.std(ddof=1)  # mean 0.1, sd 0.13
    a, b = cv_values(list(base + diff)), cv_values(list(base))
    assert uncorrected_differ(a, b)  # t ~ 3 over 15 "independent" folds
    assert not cv_differ(a, b, test_train_ratio=0.25)  # corrected t ~ 1.4
    ranks = rank_with_ties(
        [Ranked("a", float(np.mean(base + diff))), Ranked("b", float(np.mean(base)))],
        maximize=False,
        differ=lambda x, y: cv_differ({"a": a, "b": b}[x], {"a": a, "b": b}[y], 0.25),
    )
    assert ranks == {"b": 1, "a": 1}


def test_a_clear_cv_lead_separates() -> None:
    base = list(np.linspace(1.0, 2.0, 15))
    better = [v - 0.5 for v in base]
    assert cv_differ(cv_values(base), cv_values(better), 0.25)


def fixed_test_set(n: int = 400) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(2)
    y = rng.standard_normal(n)
    return y, y + 0.5 * rng.standard_normal(n)


def resampled_rmse(y: np.ndarray, pred: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    resamples = Resamples(len(y), count=1000)
    return bootstrap_values(lambda rows: RMSE(y[rows], Predictions(values=pred[rows])), resamples)


def test_identical_predictions_tie_and_intervals_have_width() -> None:
    y, pred = fixed_test_set()
    first, second = resampled_rmse(y, pred), resampled_rmse(y, pred.copy())
    assert not bootstrap_differ(first, second)
    summary = bootstrap_summary(RMSE(y, Predictions(values=pred)), first, len(y))
    assert summary.ci95 is not None
    low, high = summary.ci95
    assert low < summary.mean < high
    assert high - low > 0.01


def test_bootstrap_separates_a_clearly_better_model() -> None:
    y, pred = fixed_test_set()
    better = y + 0.1 * (pred - y)
    assert bootstrap_differ(resampled_rmse(y, pred), resampled_rmse(y, better))


def test_no_interval_is_claimed_without_spread() -> None:
    single = cv_summary({("r0f0", 0): 0.9}, 0.25)
    assert single.ci95 is None
    constant = bootstrap_summary(1.0, np.ones(1000), 50)
    assert constant.ci95 is None


def test_ranks_share_ties_and_skip() -> None:
    means = {"worst": 5.0, "best": 1.0, "close": 1.05, "middle": 2.0}
    separated = {("best", "middle"), ("best", "worst"), ("middle", "worst")}
    ranks = rank_with_ties(
        [Ranked(k, v) for k, v in means.items()],
        maximize=False,
        differ=lambda a, b: (a, b) in separated or (b, a) in separated,
    )
    assert ranks == {"best": 1, "close": 1, "middle": 3, "worst": 4}


def test_an_interval_is_clipped_to_the_values_the_metric_can_take() -> None:
    from assay.evaluation.stats import MetricSummary, clipped

    wide = MetricSummary(0.88, 0.1, (0.64, 1.12), 3, "t")
    assert clipped(wide, (-1.0, 1.0)).ci95 == (0.64, 1.0)
    assert clipped(wide, None) is wide
    assert clipped(MetricSummary(0.5, 0.1, None, 1, "t"), (0.0, 1.0)).ci95 is None
