"""Logical-error metrics of decoding: the rate per shot and per round, with Wilson bounds.

Kept apart from the stim-based source so that registering them imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import Metric, MetricFamily, MetricFn, Predictions

CONFIDENCE = 0.95


def per_round(p_shot: float, rounds: int) -> float:
    return float(1.0 - (1.0 - p_shot) ** (1.0 / rounds))


def wilson_interval(
    failures: int, shots: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    if shots <= 0:
        raise ValueError("the Wilson interval needs at least one shot")
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + confidence / 2))
    phat = failures / shots
    denom = 1 + z**2 / shots
    centre = (phat + z**2 / (2 * shots)) / denom
    half = z * np.sqrt(phat * (1 - phat) / shots + z**2 / (4 * shots**2)) / denom
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def _failures(y: npt.NDArray[Any], predictions: Predictions) -> tuple[int, int]:
    predicted = np.asarray(predictions.values).astype(np.int64)
    return int(np.sum(predicted != np.asarray(y).astype(np.int64))), len(y)


def logical_error_rate(y: npt.NDArray[Any], predictions: Predictions) -> float:
    failures, shots = _failures(y, predictions)
    return failures / shots


def _per_round_rate(rounds: int) -> MetricFn:
    def rate(y: npt.NDArray[Any], predictions: Predictions) -> float:
        return per_round(logical_error_rate(y, predictions), rounds)

    return rate


def _per_round_bound(side: int) -> Callable[[int], MetricFn]:
    def make(rounds: int) -> MetricFn:
        def bound(y: npt.NDArray[Any], predictions: Predictions) -> float:
            return per_round(wilson_interval(*_failures(y, predictions))[side], rounds)

        return bound

    return make


PER_ROUND = "logical_error_rate_per_round_r{rounds}"

DECODING_METRICS: tuple[Metric | MetricFamily, ...] = (
    Metric("logical_error_rate", "minimize", logical_error_rate, "P_L per shot"),
    MetricFamily(
        PER_ROUND,
        "minimize",
        _per_round_rate,
        "1 - (1 - P_L)^(1/{rounds}) for {rounds}-round memory",
    ),
    MetricFamily(
        PER_ROUND + "_ci_low", "minimize", _per_round_bound(0), "Wilson 95 % lower bound, per round"
    ),
    MetricFamily(
        PER_ROUND + "_ci_high",
        "minimize",
        _per_round_bound(1),
        "Wilson 95 % upper bound, per round",
    ),
)
