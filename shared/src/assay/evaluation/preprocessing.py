"""Feature and target standardisation, learnt on the training rows only.

Every model that centres and scales its inputs (or its regression targets)
uses this one: the statistics come from `fit`'s rows, and a column that is
constant there keeps unit scale, so a test value that differs does not blow up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Standardiser:
    """`(x - mean) / scale`, per column (`columns`) or over all values (`scalar`).

    `scale` is the standard deviation plus `eps` (a model's guard against division by
    a tiny number), and 1 where that is not above `floor` (a constant column).
    """

    mean: npt.NDArray[Any] | float
    scale: npt.NDArray[Any] | float

    @classmethod
    def columns(
        cls,
        x: npt.NDArray[Any],
        *,
        eps: float = 0.0,
        floor: float = 0.0,
        unshifted: Sequence[int] = (),
    ) -> Standardiser:
        """Per-column statistics of the rows of `x`. Columns in `unshifted` are scaled but
        not centred (a coordinate whose sign carries meaning, such as a jet's deta)."""
        values = np.asarray(x)
        mean = values.mean(axis=0)
        if len(unshifted):
            mean[list(unshifted)] = 0.0
        scale = values.std(axis=0) + eps if eps else values.std(axis=0)
        return cls(mean, np.where(scale > floor, scale, 1.0))

    @classmethod
    def scalar(cls, y: npt.NDArray[Any], *, eps: float = 0.0, floor: float = 0.0) -> Standardiser:
        """One mean and scale over every value of `y` (a regression target)."""
        values = np.asarray(y)
        scale = float(values.std()) + eps
        return cls(float(values.mean()), scale if scale > floor else 1.0)

    def apply(self, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return (x - self.mean) / self.scale

    def invert(self, z: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Standardised values back in the original units (a regression's predictions)."""
        return z * self.scale + self.mean
