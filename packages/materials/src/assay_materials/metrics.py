"""Stability metrics in the manner of Matbench Discovery (Riebesell et al., arXiv:2308.14920).

The truth and the predictions are energies above the convex hull (eV/atom).
A structure counts as stable when its energy above the hull is at most
`STABLE_TOLERANCE`, for the truth and for the prediction alike, and the
metrics score that classification: F1, precision, recall, and the discovery
acceleration factor DAF = precision / prevalence, the factor by which
picking the predicted-stable structures beats picking at random from the
same fold (Matbench Discovery's definition). A model that calls nothing
stable finds nothing: its precision, F1 and DAF are 0. A fold without a
stable structure leaves recall and DAF undefined (NaN).

Only numpy here: the plugin imports this module when it loads.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import Metric, Predictions

STABLE_TOLERANCE = 1e-3
"""eV/atom: within this of the hull counts as on it (the relaxation's own precision is finer)."""


def confusion(y: npt.NDArray[Any], p: Predictions) -> tuple[int, int, int, int]:
    """(true positives, false positives, false negatives, true negatives); stable = positive."""
    truth = np.asarray(y, dtype=np.float64) <= STABLE_TOLERANCE
    called = np.asarray(p.values, dtype=np.float64) <= STABLE_TOLERANCE
    tp = int(np.sum(truth & called))
    fp = int(np.sum(~truth & called))
    fn = int(np.sum(truth & ~called))
    return tp, fp, fn, int(truth.size - tp - fp - fn)


def precision(y: npt.NDArray[Any], p: Predictions) -> float:
    tp, fp, _, _ = confusion(y, p)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(y: npt.NDArray[Any], p: Predictions) -> float:
    tp, _, fn, _ = confusion(y, p)
    return tp / (tp + fn) if tp + fn else math.nan


def f1(y: npt.NDArray[Any], p: Predictions) -> float:
    tp, fp, fn, _ = confusion(y, p)
    if tp + fn == 0:
        return math.nan
    return 2 * tp / (2 * tp + fp + fn)


def discovery_acceleration(y: npt.NDArray[Any], p: Predictions) -> float:
    """Precision over the fold's share of stable structures (1 = random selection)."""
    tp, _, fn, _ = confusion(y, p)
    prevalence = (tp + fn) / len(y) if len(y) else 0.0
    return precision(y, p) / prevalence if prevalence else math.nan


_UNIT = (0.0, 1.0)

STABILITY_METRICS = (
    Metric(
        "materials.stability_f1",
        "maximize",
        f1,
        f"F1 of stable (<= {STABLE_TOLERANCE} eV/atom above the hull), truth and prediction",
        _UNIT,
    ),
    Metric(
        "materials.stability_precision",
        "maximize",
        precision,
        "share of the structures predicted stable that are stable (0 when none is predicted)",
        _UNIT,
    ),
    Metric(
        "materials.stability_recall",
        "maximize",
        recall,
        "share of the stable structures predicted stable",
        _UNIT,
    ),
    Metric(
        "materials.daf",
        "maximize",
        discovery_acceleration,
        "discovery acceleration factor: precision / prevalence of stable in the fold "
        "(Matbench Discovery; 1 = random selection)",
        (0.0, math.inf),
    ),
)
