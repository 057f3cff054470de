"""Models: the cut-based physics baseline and boosted trees on jet substructure.

The deep models (PFN, ParticleNet-Lite) are in `assay_hep.deep`; the
negative control is the core's `majority` (class priors for every jet).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from assay.data import Dataset
from assay.models import Model, SklearnModel, require_targets
from assay.predictions import Predictions
from sklearn.ensemble import HistGradientBoostingClassifier

from assay_hep.features import SUBSTRUCTURE_FEATURES, substructure_features

SDMASS = SUBSTRUCTURE_FEATURES.index("sdmass")
TAU32 = SUBSTRUCTURE_FEATURES.index("tau32")


def jet_substructure(dataset: Dataset) -> npt.NDArray[np.float64]:
    """The featurizer of the boosted trees: `SUBSTRUCTURE_FEATURES` per jet."""
    return substructure_features(dataset.inputs)


class MassTau32Cut:
    """The physics baseline: a soft-drop mass window, then a cut on tau32 scanned.

    Binary: the window holds the central `window_quantile` of the signal's
    soft-drop mass in the training set; inside it the score is 1 - tau32
    (scanning the tau32 cut traces the ROC curve), outside it the score is
    below every jet inside. Multi-class: each class gets a soft-drop mass
    histogram from the training set and a jet goes to the likeliest class
    (a mass-window tagger per class; tau32 cannot tell W, Z and H apart).
    """

    def __init__(self, window_quantile: float = 0.8, mass_bins: int = 40) -> None:
        self.window_quantile = window_quantile
        self.mass_bins = mass_bins

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        y = require_targets(train).astype(np.int64)
        x = jet_substructure(train)
        self.n_classes_ = int(y.max()) + 1
        mass = x[:, SDMASS]
        if self.n_classes_ == 2:
            tail = (1 - self.window_quantile) / 2
            self.window_ = tuple(np.quantile(mass[y == 1], [tail, 1 - tail]))
            return
        self.edges_ = np.linspace(
            0.0, max(float(np.quantile(mass, 0.995)), 1.0), self.mass_bins + 1
        )
        hist = np.stack(
            [np.histogram(mass[y == k], self.edges_)[0] + 1.0 for k in range(self.n_classes_)]
        )
        self.likelihood_ = hist / hist.sum(axis=1, keepdims=True)
        self.prior_ = np.bincount(y, minlength=self.n_classes_) / len(y)

    def predict(self, dataset: Dataset) -> Predictions:
        x = jet_substructure(dataset)
        mass = x[:, SDMASS]
        if self.n_classes_ == 2:
            lo, hi = self.window_
            inside = (mass > lo) & (mass < hi)
            score = np.clip(1.0 - x[:, TAU32], 0.0, 1.0) * 0.5 + 0.5 * inside
            probs = np.stack([1 - score, score], axis=1)
        else:
            bins = np.clip(np.digitize(mass, self.edges_) - 1, 0, self.mass_bins - 1)
            joint = self.likelihood_[:, bins].T * self.prior_
            probs = joint / joint.sum(axis=1, keepdims=True)
        return Predictions(values=np.argmax(probs, axis=1), probabilities=probs)


def boosted_trees(
    max_iter: int = 300, learning_rate: float = 0.1, max_leaf_nodes: int = 31
) -> Model:
    """Gradient-boosted trees (scikit-learn) on the jet substructure variables."""
    estimator: Any = HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=learning_rate,
        max_leaf_nodes=max_leaf_nodes,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
    )
    return SklearnModel(estimator, featurizer=jet_substructure)
