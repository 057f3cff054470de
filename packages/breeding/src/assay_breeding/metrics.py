"""Breeding metrics: accuracy (r with the true breeding value or the phenotype) and bias.

A constant prediction (the mean model) ranks nobody: selecting on it is
random selection, so its accuracy is 0 by convention rather than undefined,
and the slope of TBV on a constant is taken as 0 (bias 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import Metric, Predictions


def accuracy(y: npt.NDArray[Any], p: Predictions) -> float:
    """Pearson r of predictions with the truth; 0 for a constant prediction."""
    truth, pred = np.asarray(y, dtype=np.float64), np.asarray(p.values, dtype=np.float64)
    if np.ptp(pred) == 0 or np.ptp(truth) == 0:
        return 0.0
    return float(np.corrcoef(truth, pred)[0, 1])


def regression_slope(y: npt.NDArray[Any], p: Predictions) -> float:
    """Slope b of the truth regressed on the predictions (1 = unbiased GEBV scale)."""
    truth, pred = np.asarray(y, dtype=np.float64), np.asarray(p.values, dtype=np.float64)
    if np.ptp(pred) == 0:  # np.var of a constant can be 1e-33, not 0: test the spread
        return 0.0
    return float(np.mean((pred - pred.mean()) * (truth - truth.mean())) / np.var(pred))


def slope_bias(y: npt.NDArray[Any], p: Predictions) -> float:
    """|1 - b|: how far the predictions' scale is from the truth's (inflation or deflation)."""
    return abs(1.0 - regression_slope(y, p))


PHENOTYPE_SCORED = frozenset({"r_phenotype"})
"""Metrics the breeding protocol scores against the phenotype; every other against the TBV."""

BREEDING_METRICS = (
    Metric(
        "r_tbv",
        "maximize",
        accuracy,
        "Pearson r of predictions with true breeding values",
        (-1.0, 1.0),
    ),
    Metric(
        "r_phenotype", "maximize", accuracy, "Pearson r of predictions with phenotypes", (-1.0, 1.0)
    ),
    Metric(
        "slope_bias",
        "minimize",
        slope_bias,
        "|1 - b| with b the slope of TBV regressed on predictions (0: unbiased)",
    ),
)


def _selection_only(y: npt.NDArray[Any], p: Predictions) -> float:
    raise ValueError("a selection-cycle metric: the breeding.selection protocol scores it")


SELECTION_METRICS = (
    Metric(
        "gain_per_cycle",
        "maximize",
        _selection_only,
        "rise in mean true breeding value per selection cycle, in base genetic SD",
    ),
    Metric(
        "genetic_variance_kept",
        "maximize",
        _selection_only,
        "genetic variance of the last generation over the base generation's",
    ),
    Metric(
        "inbreeding",
        "minimize",
        _selection_only,
        "1 - H_t / H_0: loss of expected heterozygosity at the chip SNPs since the base",
    ),
)
