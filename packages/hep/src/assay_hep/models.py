"""Models: the cut-based physics baseline and boosted trees on jet substructure.

The deep models (PFN, ParticleNet-Lite) are in `assay_hep.deep`; the
negative control is the core's `majority` (class priors for every jet).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from assay.kit import Dataset, Model, Predictions, SklearnModel, checked, require_targets
from pydantic import Field
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from assay_hep.features import SUBSTRUCTURE_FEATURES, substructure_features

SDMASS = SUBSTRUCTURE_FEATURES.index("sdmass")
TAU32 = SUBSTRUCTURE_FEATURES.index("tau32")
WINDOW_QUANTILES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
"""The mass windows `hep.cut` chooses from: central fractions of the training signal."""
DEFAULT_WINDOW_QUANTILE = 0.8
"""The window when there is nothing to tune on (too few jets of a class)."""
MIN_TUNING_JETS = 20
"""Jets per class that tuning the window needs; fewer validation jets: the training jets."""


def _central_window(mass: npt.NDArray[np.float64], quantile: float) -> tuple[float, float]:
    """The mass interval holding the central `quantile` of `mass`."""
    tail = (1 - quantile) / 2
    lo, hi = np.quantile(mass, [tail, 1 - tail])
    return float(lo), float(hi)


def jet_substructure(dataset: Dataset) -> npt.NDArray[np.float64]:
    """The featurizer of the boosted trees: `SUBSTRUCTURE_FEATURES` per jet."""
    return substructure_features(dataset.inputs)


class MassTau32Cut:
    """The physics baseline: a soft-drop mass window, then a cut on tau32 scanned.

    Binary: the window holds the central `window_quantile` of the signal's
    soft-drop mass in the training set; inside it the score is 1 - tau32
    (scanning the tau32 cut traces the ROC curve), outside it the score is
    below every jet inside. By default (`window_quantile = None`) the window
    is the one of `WINDOW_QUANTILES` with the best AUC on the validation jets
    (the training jets when there are fewer than `MIN_TUNING_JETS` of a
    class), as an analysis would optimise it. Multi-class: each class gets a
    soft-drop mass histogram from the training set and a jet goes to the
    likeliest class (a mass-window tagger per class; tau32 cannot tell W, Z
    and H apart). The binary window is reported by `fitted_choices()`, so each
    run records it (tags `assay.info.fitted.window_*`).
    """

    @checked
    def __init__(
        self,
        window_quantile: Annotated[float, Field(gt=0, le=1)] | None = None,
        mass_bins: Annotated[int, Field(ge=1)] = 40,
    ) -> None:
        self.window_quantile = window_quantile
        self.mass_bins = mass_bins

    def _binary_score(
        self, x: npt.NDArray[np.float64], window: tuple[float, float]
    ) -> npt.NDArray[np.float64]:
        mass = x[:, SDMASS]
        inside = (mass > window[0]) & (mass < window[1])
        return np.asarray(np.clip(1.0 - x[:, TAU32], 0.0, 1.0) * 0.5 + 0.5 * inside)

    def _tuned_quantile(
        self,
        signal_mass: npt.NDArray[np.float64],
        candidates: Iterable[tuple[str, npt.NDArray[Any], npt.NDArray[np.float64]]],
    ) -> tuple[float, str]:
        """The best-AUC window on the first (name, targets, substructure) set with
        enough jets, and that set's name ("default" when none has)."""
        for name, y, x in candidates:
            if min(np.sum(y == 0), np.sum(y == 1)) < MIN_TUNING_JETS:
                continue
            auc = {
                q: roc_auc_score(y, self._binary_score(x, _central_window(signal_mass, q)))
                for q in WINDOW_QUANTILES
            }
            # ties go to the window nearest the default
            best = max(auc, key=lambda q: (auc[q], -abs(q - DEFAULT_WINDOW_QUANTILE)))
            return best, name
        return DEFAULT_WINDOW_QUANTILE, "default"

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del seed
        y = require_targets(train).astype(np.int64)
        x = jet_substructure(train)
        self.n_classes_ = int(y.max()) + 1
        mass = x[:, SDMASS]
        if self.n_classes_ == 2:
            if self.window_quantile is not None:
                self.quantile_, self.tuned_on_ = self.window_quantile, "fixed"
            else:
                # validation jets first, the training jets (already featurised) as the fallback
                candidates = [("training", y, x)]
                if valid is not None and len(valid):
                    valid_set = ("validation", require_targets(valid), jet_substructure(valid))
                    candidates.insert(0, valid_set)
                self.quantile_, self.tuned_on_ = self._tuned_quantile(mass[y == 1], candidates)
            self.window_ = _central_window(mass[y == 1], self.quantile_)
            return
        self.edges_ = np.linspace(
            0.0, max(float(np.quantile(mass, 0.995)), 1.0), self.mass_bins + 1
        )
        hist = np.stack(
            [np.histogram(mass[y == k], self.edges_)[0] + 1.0 for k in range(self.n_classes_)]
        )
        self.likelihood_ = hist / hist.sum(axis=1, keepdims=True)
        self.prior_ = np.bincount(y, minlength=self.n_classes_) / len(y)

    def fitted_choices(self) -> dict[str, float | str]:
        """The binary mass window: its fraction, its edges, and the jets that chose it."""
        if self.n_classes_ != 2:
            return {}
        return {
            "window_quantile": self.quantile_,
            "window_chosen_on": self.tuned_on_,
            "window_low_gev": round(self.window_[0], 2),
            "window_high_gev": round(self.window_[1], 2),
        }

    def predict(self, dataset: Dataset) -> Predictions:
        x = jet_substructure(dataset)
        mass = x[:, SDMASS]
        if self.n_classes_ == 2:
            score = self._binary_score(x, self.window_)
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
