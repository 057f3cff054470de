"""Physics baselines for error mitigation: no mitigation, and zero-noise extrapolation.

Both read the noisy <Z_i> that generation stored in `extras['noisy']` at the
folding scale factors `extras['zne_scales']` (1, 3, 5), so they need no
simulator at predict time. The learned models (linear, forest, MLP, GNN) are
trained on the tabular features or the circuit graph instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from assay.kit import DataError, Dataset, Model, Predictions, SklearnModel
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def noisy_columns(
    dataset: Dataset, scales: Sequence[int]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The noisy values at `scales` and the scale factors, with a clear error when absent."""
    name = dataset.metadata.name
    if "noisy" not in dataset.extras or "zne_scales" not in dataset.extras:
        raise DataError(f"dataset '{name}': extras 'noisy' and 'zne_scales' are needed for ZNE")
    noisy = np.asarray(dataset.extras["noisy"], dtype=np.float64)
    known = np.asarray(dataset.extras["zne_scales"], dtype=np.float64)
    columns = []
    for scale in scales:
        hits = np.flatnonzero(np.isclose(known[0], scale)) if len(known) else np.array([0])
        if len(hits) == 0:
            raise DataError(f"dataset '{name}': no noisy values at scale factor {scale}")
        columns.append(int(hits[0]))
    values = noisy[:, columns]
    if not np.all(np.isfinite(values)):
        raise DataError(
            f"dataset '{name}': extras 'noisy' lacks values at scale factors {list(scales)} "
            "(user files need measured_scale3/measured_scale5 for ZNE)"
        )
    return values, np.asarray(scales, dtype=np.float64)


class Unmitigated:
    """The negative control: the raw noisy <Z_i>."""

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del train, valid, seed

    def predict(self, dataset: Dataset) -> Predictions:
        values, _ = noisy_columns(dataset, (1,))
        return Predictions(values=values[:, 0])


class ZeroNoiseExtrapolation:
    """Polynomial extrapolation to scale 0 through the noisy values at the given scales.

    `scales=(1, 3)` is the linear fit; `scales=(1, 3, 5)` with `order=2` is
    Richardson extrapolation (the polynomial through all points). The result
    is clipped to [-1, 1], the range of a Pauli expectation.
    """

    def __init__(self, scales: Sequence[int] = (1, 3), order: int | None = None) -> None:
        self.scales = tuple(int(s) for s in scales)
        self.order = len(self.scales) - 1 if order is None else int(order)
        if not 1 <= self.order < len(self.scales):
            raise ValueError(f"order {self.order} needs more than {self.order} scale factors")

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del train, valid, seed

    def predict(self, dataset: Dataset) -> Predictions:
        values, scales = noisy_columns(dataset, self.scales)
        vander = np.vander(scales, self.order + 1, increasing=True)
        coefficients, *_ = np.linalg.lstsq(vander, values.T, rcond=None)
        return Predictions(values=np.clip(coefficients[0], -1.0, 1.0))


def zne_linear() -> Model:
    return ZeroNoiseExtrapolation(scales=(1, 3))


def zne_richardson() -> Model:
    return ZeroNoiseExtrapolation(scales=(1, 3, 5))


def linear_regression() -> Model:
    return SklearnModel(make_pipeline(StandardScaler(), LinearRegression()))
