"""The core's closed-loop environments, each with a known optimum: Hartmann-6 (analytic)
and a pool built from any dataset with targets (the rows with the highest target)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import numpy as np
import numpy.typing as npt
from pydantic import Field

from assay.data.dataset import Dataset
from assay.errors import DataError
from assay.loop.closed_loop import Box, Candidates, Environment, Measurement
from assay.params import checked

# Hartmann-6 constants (Dixon & Szego 1978; as tabulated by Surjanovic & Bingham's
# Virtual Library of Simulation Experiments). Its minimum is -3.32237 at HARTMANN6_ARGMAX.
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
HARTMANN6_MAX = 3.32237
HARTMANN6_ARGMAX = np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])


def hartmann6(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The negated Hartmann-6 function on [0, 1]^6 (to be maximised; maximum 3.32237)."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    inner = np.einsum("ij,nij->ni", _A, (x[:, None, :] - _P[None, :, :]) ** 2)
    return np.asarray(np.exp(-inner) @ _ALPHA, dtype=float)


class Hartmann6(Environment):
    """Hartmann-6 on the unit cube, with optional Gaussian measurement noise (std `noise`)."""

    optimum = HARTMANN6_MAX

    @checked
    def __init__(self, noise: Annotated[float, Field(ge=0)] = 0.0) -> None:
        self.noise = noise
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int) -> Candidates:
        self._rng = np.random.default_rng([seed, 6])
        return Candidates.of_space(Box(np.zeros(6), np.ones(6)))

    def measure(self, batch: Candidates) -> Measurement:
        truth = hartmann6(batch.features)
        noise = self._rng.normal(0.0, self.noise, truth.size) if self.noise else 0.0
        return Measurement(values=truth + noise, truth=truth)


class DatasetPool(Environment):
    """A fixed pool: every row of a dataset is a candidate (id = its row number), its
    target the value a measurement reveals (plus optional Gaussian noise, std `noise`
    in units of the targets' standard deviation)."""

    def __init__(self, dataset: Dataset, noise: Annotated[float, Field(ge=0)] = 0.0) -> None:
        if dataset.targets is None:
            raise DataError(f"dataset '{dataset.metadata.name}' has no targets to make a pool of")
        targets = np.asarray(dataset.targets, dtype=float).reshape(-1)
        features = np.asarray(dataset.inputs, dtype=float).reshape(len(targets), -1)
        if not (np.all(np.isfinite(targets)) and np.all(np.isfinite(features))):
            raise DataError(f"dataset '{dataset.metadata.name}': a pool needs finite values")
        self.pool = Candidates.pool([str(i) for i in range(len(targets))], features)
        self._values = dict(zip(self.pool.ids.tolist(), targets.tolist(), strict=True))
        self.optimum = float(targets.max())
        self.noise = noise * float(targets.std())
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int) -> Candidates:
        self._rng = np.random.default_rng([seed, 7])
        return self.pool

    def measure(self, batch: Candidates) -> Measurement:
        truth = np.array([self._values[i] for i in batch.ids.tolist()])
        noise = self._rng.normal(0.0, self.noise, truth.size) if self.noise else 0.0
        return Measurement(values=truth + noise, truth=truth)

    def pool_values(self) -> Mapping[str, float]:
        return self._values


ENVIRONMENTS = {"core.hartmann6": Hartmann6, "core.pool": DatasetPool}
