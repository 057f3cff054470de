"""What a model returns: values, and optionally class probabilities and uncertainty."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.errors import PredictionError


@dataclass(frozen=True)
class Predictions:
    """`values` are predicted targets (regression values or class labels).

    `probabilities` (n, n_classes) feed ranking metrics such as AUC;
    `uncertainty` (n,) is an optional standard deviation for regression.
    """

    values: npt.NDArray[Any]
    probabilities: npt.NDArray[np.float64] | None = None
    uncertainty: npt.NDArray[np.float64] | None = None

    def validate(self, n_rows: int, *, model: str) -> Predictions:
        """Check shapes and finiteness against the test set; raise one clear error."""
        values = np.asarray(self.values)
        if values.shape[:1] != (n_rows,):
            raise PredictionError(
                f"model '{model}' returned predictions of shape {values.shape}, "
                f"expected ({n_rows}, ...) for {n_rows} test rows"
            )
        if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
            bad = int(np.sum(~np.isfinite(values)))
            raise PredictionError(f"model '{model}' returned {bad} non-finite predictions")
        for name in ("probabilities", "uncertainty"):
            extra = getattr(self, name)
            if extra is None:
                continue
            extra = np.asarray(extra, dtype=float)
            if extra.shape[:1] != (n_rows,):
                raise PredictionError(
                    f"model '{model}' returned {name} of shape {extra.shape}, expected {n_rows} rows"
                )
            if not np.all(np.isfinite(extra)):
                raise PredictionError(f"model '{model}' returned non-finite {name}")
        return self
