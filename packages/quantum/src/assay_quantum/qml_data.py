"""The three data generators of Bowles, Ahmed & Schuld (2024), written from the paper's text.

"Better than classical? The subtle art of benchmarking quantum machine
learning models", arXiv:2403.07059. Labels are 0/1 here (the paper uses +-1).

- linearly separable: inputs uniform in [-1, 1]^d, labelled by the side of a
  fixed random hyperplane through the origin; points closer than `margin` to
  the plane are dropped and redrawn, so the classes are separated by a gap.
- hidden manifold (Goldt et al. 2020): latent points c ~ N(0, I_m) on an
  m-dimensional manifold, embedded as x = tanh(F c / sqrt(m)) with a random
  Gaussian d x m matrix F; labels from a random one-hidden-layer network on the
  latent c, thresholded at its median so the classes are balanced.
- two curves: two one-dimensional curves in R^d given by random Fourier series
  of degree D in t in [0, 1]; the second is the first shifted by `offset` in
  every coordinate; each point is a random t on one curve plus Gaussian noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from assay.kit import (
    DataError,
    Dataset,
    DatasetMetadata,
    Source,
    SourceParams,
    read_array,
    write_array,
)
from pydantic import Field

from assay_quantum.mitigation_data import GENERATED_LICENCE

Arrays = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]


def linearly_separable(n: int, d: int, rng: np.random.Generator, margin: float = 0.02) -> Arrays:
    w = rng.normal(size=d)
    w /= np.linalg.norm(w)
    kept: list[npt.NDArray[np.float64]] = []
    while sum(len(k) for k in kept) < n:
        x = rng.uniform(-1, 1, size=(2 * n, d))
        kept.append(x[np.abs(x @ w) > margin])
    x = np.concatenate(kept)[:n]
    return x, (x @ w > 0).astype(np.int64)


def hidden_manifold(n: int, d: int, rng: np.random.Generator, manifold_dim: int = 6) -> Arrays:
    latent = rng.normal(size=(n, manifold_dim))
    embedding = rng.normal(size=(d, manifold_dim))
    x = np.tanh(latent @ embedding.T / np.sqrt(manifold_dim))
    hidden_w = rng.normal(size=(manifold_dim, 2 * manifold_dim))
    out_w = rng.normal(size=2 * manifold_dim)
    score = np.tanh(latent @ hidden_w / np.sqrt(manifold_dim)) @ out_w
    return x, (score > np.median(score)).astype(np.int64)


def two_curves(
    n: int,
    d: int,
    rng: np.random.Generator,
    degree: int = 5,
    offset: float = 0.1,
    noise: float = 0.01,
) -> Arrays:
    cos_coef = rng.normal(size=(degree + 1, d)) / (degree + 1)
    sin_coef = rng.normal(size=(degree + 1, d)) / (degree + 1)
    t = rng.uniform(0, 1, size=n)
    k = np.arange(degree + 1)
    phase = 2 * np.pi * np.outer(t, k)
    curve = np.cos(phase) @ cos_coef + np.sin(phase) @ sin_coef
    y = (rng.uniform(size=n) < 0.5).astype(np.int64)
    x = curve + offset * y[:, None] + noise * rng.normal(size=(n, d))
    return x, y


GENERATORS = {
    "linearly_separable": linearly_separable,
    "hidden_manifold": hidden_manifold,
    "two_curves": two_curves,
}


class QMLDataParams(SourceParams):
    generator: Literal["linearly_separable", "hidden_manifold", "two_curves"]
    n_samples: int = Field(ge=20)
    n_features: int = Field(ge=2, le=12)
    """One qubit each."""
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the generator."""


class QMLDataSource(Source[QMLDataParams]):
    """Parameters: `generator` (one of GENERATORS), `n_samples`, `n_features`, `seed`, `options`."""

    name = "quantum.qml_data"
    version = "1"

    def generator_versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    params_model = QMLDataParams

    def prepare(self, params: QMLDataParams, out_dir: Path) -> None:
        rng = np.random.default_rng(params.seed)
        generate = GENERATORS[params.generator]
        x, y = generate(params.n_samples, params.n_features, rng, **params.options)
        write_array(out_dir / "x.npy", np.ascontiguousarray(x, dtype=np.float64))
        write_array(out_dir / "y.npy", np.ascontiguousarray(y, dtype=np.int64))

    def load(self, params: QMLDataParams, files_dir: Path) -> Dataset:
        x, y = read_array(files_dir / "x.npy"), read_array(files_dir / "y.npy")
        if x.ndim != 2 or y.shape != (len(x),):
            raise DataError(f"{files_dir}: x.npy must be 2-D and y.npy one label per row")
        return Dataset(
            inputs=x,
            targets=y,
            metadata=DatasetMetadata(
                name=f"qml-{params.generator}-d{params.n_features}",
                version=self.version,
                provenance="generators of Bowles, Ahmed & Schuld (2024), arXiv:2403.07059, "
                "re-implemented from the paper's description",
                licence=GENERATED_LICENCE,
            ),
        )
