"""Jet-tagging metrics: background rejection 1/eps_B at a fixed signal efficiency.

Binary: signal = class 1, the score is P(class 1). Multi-class (JetClass
convention, Qu et al. 2022): for class X against QCD (class 0) the score is
P(X) / (P(X) + P(QCD)) on jets of those two classes only. eps_B is read from
the ROC curve at the first threshold reaching the signal efficiency; when
no background jet passes, eps_B is capped at 1 / n_background so the number
stays finite: the rejection is then a lower bound, returned as a `Bound` and
shown as `≥ n_background` on tables, boards and the site.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import Bound, Metric, MetricFamily, Predictions, positive_scores

JETCLASS_ORDER = ("QCD", "Tbqq", "Wqq", "Zqq", "Hbb")
"""Class indices of the jet-classes scenario; QCD is class 0."""


def rejection_at(
    y_signal: npt.NDArray[Any], scores: npt.NDArray[np.float64], efficiency: float
) -> float:
    """1/eps_B at signal efficiency `efficiency` (y_signal: 1 signal, 0 background)."""
    from sklearn.metrics import roc_curve

    y = np.asarray(y_signal).astype(int)
    n_background = int((y == 0).sum())
    if n_background == 0 or int(y.sum()) == 0:
        raise ValueError("rejection needs signal and background jets")
    # Every threshold: the default drops points on straight runs of the curve,
    # and with tied scores the first one reaching the efficiency can be among them.
    fpr, tpr, _ = roc_curve(y, scores, drop_intermediate=False)
    eps_b = float(fpr[np.searchsorted(tpr, efficiency, side="left")])
    rejection = 1.0 / max(eps_b, 1.0 / n_background)
    if eps_b == 0.0:  # no background jet passes: capped, the true rejection is at least this
        return Bound(rejection, "lower")
    return rejection


def _binary_rejection(efficiency: float) -> Any:
    if not 0 < efficiency < 1:
        raise ValueError(f"a signal efficiency lies in (0, 1), got {efficiency}")

    def fn(y: npt.NDArray[Any], p: Predictions) -> float:
        return rejection_at(y, positive_scores(p), efficiency)

    return fn


def _qcd_rejection(class_index: int, efficiency: float = 0.5) -> Any:
    def fn(y: npt.NDArray[Any], p: Predictions) -> float:
        if p.probabilities is None:
            raise ValueError("QCD rejection needs class probabilities")
        probs = np.asarray(p.probabilities, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != len(JETCLASS_ORDER):
            # The metric names a class by its index, so any other class list would mislabel it.
            raise ValueError(
                f"QCD rejection of {JETCLASS_ORDER[class_index]} needs probabilities for the "
                f"{len(JETCLASS_ORDER)} classes {list(JETCLASS_ORDER)} in that order, "
                f"got shape {probs.shape}"
            )
        keep = (y == class_index) | (y == 0)
        signal, qcd = probs[keep, class_index], probs[keep, 0]
        score = signal / np.maximum(signal + qcd, 1e-12)
        return rejection_at((y[keep] == class_index).astype(int), score, efficiency)

    return fn


HEP_METRICS: tuple[Metric | MetricFamily, ...] = (
    MetricFamily(
        "hep.rejection_{percent}",
        "maximize",
        lambda percent: _binary_rejection(percent / 100),
        "background rejection 1/eps_B at signal efficiency {percent} %",
    ),
    *(
        Metric(
            f"hep.qcd_rejection_50_{name}",
            "maximize",
            _qcd_rejection(k),
            f"QCD rejection at 50 % efficiency for {name} jets (score P({name})/(P({name})+P(QCD)))",
        )
        for k, name in enumerate(JETCLASS_ORDER)
        if k > 0
    ),
)
