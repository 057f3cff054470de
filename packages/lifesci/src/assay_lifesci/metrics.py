"""The metrics of molecular cross-validation (`protocol`), after Open Problems' denoising
task: mean squared error after each matrix is normalised to 10,000 per cell and
log1p-transformed, and the Poisson negative log-likelihood of the held-out counts with the
denoised matrix rescaled to their total. Light to import: the plugin registers these.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import Metric, Predictions

from assay_lifesci.cells import log_normalise


def _mse_log(y: npt.NDArray[Any], p: Predictions) -> float:
    truth = log_normalise(np.asarray(y, dtype=np.float64))
    denoised = log_normalise(np.clip(np.asarray(p.values, dtype=np.float64), 0, None))
    return float(np.mean((truth - denoised) ** 2))


def _poisson(y: npt.NDArray[Any], p: Predictions) -> float:
    rate = np.clip(np.asarray(p.values, dtype=np.float64), 0, None)
    return float(np.mean(rate - np.asarray(y, dtype=np.float64) * np.log(rate + 1e-6)))


METRICS = (
    Metric(
        "mcv_mse",
        "minimize",
        _mse_log,
        "MSE between held-out and denoised counts, each normalised to 1e4 per cell and log1p",
    ),
    Metric(
        "mcv_poisson",
        "minimize",
        _poisson,
        "Poisson NLL of held-out counts, denoised matrix rescaled to their total",
    ),
)
