"""Count denoising under molecular cross-validation (Batson, Royer & Webber, 2019).

Each unit splits every UMI of the count matrix binomially: 90 % into the
counts a model sees, 10 % held out. A denoiser that recovers the true
expression predicts the held-out counts better than the noisy 90 % do.
Scores follow Open Problems' denoising task: mean squared error after each
matrix is normalised to 10,000 per cell and log1p-transformed, and the
Poisson negative log-likelihood of the held-out counts with the denoised
matrix rescaled to their total.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from assay.data import (
    Dataset,
    DatasetMetadata,
    Source,
    read_array,
    read_json,
    sha256_file,
    stable_hash,
    write_array,
    write_json,
)
from assay.errors import DataError
from assay.metrics import Metric
from assay.models import fitted_choice_tags
from assay.predictions import Predictions
from assay.protocols import EvaluationProtocol, Plan, UnitContext, UnitOutput
from assay.spec import ProtocolSpec, ScenarioSpec
from scipy import sparse

from assay_lifesci.cells import log_normalise, read_h5ad_file

if TYPE_CHECKING:
    from assay.plugin import Catalog

CELLTYPIST_SAMPLE = "celltypist/data/samples/sample_cell_by_gene.csv"
SAMPLE = "celltypist-sample"
HELD_OUT_FRACTION = 0.1
INTEGER_TOLERANCE = 1e-6


def celltypist_sample_path() -> Path:
    """celltypist's bundled sample counts, located through the installed distribution
    (celltypist itself is never imported: only this file is used)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(str(distribution("celltypist").locate_file(CELLTYPIST_SAMPLE)))
    except PackageNotFoundError:
        raise DataError("celltypist is not installed; install assay-lifesci") from None
    if not path.is_file():
        raise DataError(f"celltypist's sample counts are missing: {path}")
    return path


def read_count_table(path: Path) -> tuple[npt.NDArray[np.float64], list[str]]:
    """A cells x genes count matrix from a CSV (cells in rows, genes in the header) or
    an `.h5ad` (its `X`); refused in one line unless every entry is a non-negative integer."""
    if path.suffix.lower() == ".h5ad":
        adata = read_h5ad_file(path)
        matrix = adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X
        counts, genes = np.asarray(matrix, dtype=np.float64), list(map(str, adata.var_names))
    else:
        import pandas as pd

        try:
            frame = pd.read_csv(path, index_col=0)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path.name}: not a readable count CSV ({exc})") from None
        try:
            counts = frame.to_numpy(dtype=np.float64)
        except ValueError:
            raise DataError(
                f"{path.name}: the count matrix holds non-numeric entries; "
                "expected cells in rows, genes in columns, integer UMI counts"
            ) from None
        genes = list(map(str, frame.columns))
    if counts.ndim != 2 or counts.shape[0] < 2 or counts.shape[1] < 2:
        raise DataError(f"{path.name}: expected a cells x genes matrix, got shape {counts.shape}")
    # Counts that went through floating point (celltypist's sample: 0.999999999999999)
    # are integers within rounding; anything further off is not a count.
    rounded = np.round(counts)
    bad = ~np.isfinite(counts) | (counts < 0) | (np.abs(counts - rounded) > INTEGER_TOLERANCE)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise DataError(
            f"{path.name}: denoising needs raw integer counts, but cell {row + 1}, gene "
            f"'{genes[col]}' holds {float(counts[row, col])!r} (normalised or log values?)"
        )
    return rounded, genes


class CountsSource(Source):
    """Raw UMI counts: celltypist's bundled sample (559 cells x 32,786 genes) or a user's
    count CSV / `.h5ad`. `min_cells` drops genes detected in fewer cells; `max_genes`
    keeps the genes with the most counts. The matrix is stored sparse (CSR)."""

    name = "lifesci.counts"
    version = "1"
    known_params = frozenset({"path", "min_cells", "max_genes"})

    def generator_versions(self) -> dict[str, str]:
        return {"reader": "1"}

    def resolve(self, params: Mapping[str, Any]) -> Path:
        raw = str(params.get("path", SAMPLE))
        return celltypist_sample_path() if raw == SAMPLE else Path(raw).expanduser().resolve()

    def validate_params(self, params: Mapping[str, Any]) -> None:
        unknown = set(params) - self.known_params
        if unknown:
            raise DataError(f"{self.name}: unknown parameters {sorted(unknown)}")
        for key in ("min_cells", "max_genes"):
            value = params.get(key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise DataError(f"{self.name}: {key} must be a positive integer, got {value!r}")
        if not self.resolve(params).is_file():
            raise DataError(f"{self.name}: file {self.resolve(params)} not found")

    def fingerprint(self, params: Mapping[str, Any]) -> str:
        path = self.resolve(params)
        return sha256_file(path) if path.is_file() else "missing"

    def prepare(self, params: Mapping[str, Any], out_dir: Path) -> None:
        counts, genes = read_count_table(self.resolve(params))
        detected = (counts > 0).sum(axis=0)
        keep = np.flatnonzero(detected >= int(params.get("min_cells", 1)))
        max_genes = params.get("max_genes")
        if max_genes is not None and len(keep) > max_genes:
            totals = counts[:, keep].sum(axis=0)
            keep = np.sort(keep[np.argsort(-totals, kind="stable")[:max_genes]])
        if len(keep) < 2:
            raise DataError(f"{self.name}: fewer than two genes pass min_cells")
        matrix = sparse.csr_matrix(counts[:, keep].astype(np.int32))
        write_array(out_dir / "data.npy", matrix.data)
        write_array(out_dir / "indices.npy", matrix.indices.astype(np.int32))
        write_array(out_dir / "indptr.npy", matrix.indptr.astype(np.int64))
        write_json(out_dir / "genes.json", [genes[i] for i in keep])
        write_json(out_dir / "shape.json", list(matrix.shape))

    def load(self, params: Mapping[str, Any], files_dir: Path) -> Dataset:
        shape = tuple(read_json(files_dir / "shape.json"))
        matrix = sparse.csr_matrix(
            (
                read_array(files_dir / "data.npy"),
                read_array(files_dir / "indices.npy"),
                read_array(files_dir / "indptr.npy"),
            ),
            shape=shape,
        )
        sample = str(params.get("path", SAMPLE)) == SAMPLE
        path = self.resolve(params)
        return Dataset(
            inputs=matrix,
            targets=None,
            metadata=DatasetMetadata(
                name="celltypist-sample" if sample else path.stem,
                version="1",
                provenance=(
                    f"celltypist's bundled {CELLTYPIST_SAMPLE} (559 cells, 10x UMI counts); "
                    f"{shape[1]} genes kept"
                    if sample
                    else f"user file {path} (sha256 {self.fingerprint(params)[:16]})"
                ),
                licence=(
                    "celltypist (MIT), sample data shipped in its wheel"
                    if sample
                    else "user-supplied data (licence as given by its owner)"
                ),
            ),
        )


def binomial_split(
    counts: sparse.csr_matrix, fraction: float, seed: int
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Every molecule goes to the held-out half with probability `fraction` (MCV)."""
    rng = np.random.default_rng(seed)
    held = counts.copy()
    held.data = rng.binomial(counts.data.astype(np.int64), fraction).astype(np.float64)
    seen = counts.copy().astype(np.float64)
    seen.data = counts.data - held.data
    seen.eliminate_zeros()
    held.eliminate_zeros()
    return seen, held


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


class MolecularCrossValidation(EvaluationProtocol):
    """One unit per binomial split (`repeats` of them, seeds split_seed, split_seed + 1, ...):
    the model fits on the 90 % counts of every cell and returns their denoised matrix;
    it is scored against the 10 % it never saw."""

    name = "lifesci.mcv"

    def plan(
        self, spec: ScenarioSpec, protocol: ProtocolSpec, dataset: Dataset, catalog: Catalog
    ) -> Plan:
        del catalog
        if not sparse.issparse(dataset.inputs):
            raise DataError(f"scenario {spec.key}: molecular cross-validation needs a count matrix")
        fraction = float(protocol.params.get("held_out_fraction", HELD_OUT_FRACTION))
        if not 0 < fraction < 1:
            raise DataError(f"scenario {spec.key}: held_out_fraction must lie in (0, 1)")
        seeds = [protocol.split_seed + r for r in range(protocol.repeats)]
        sha = stable_hash(
            {
                "protocol": self.name,
                "fraction": fraction,
                "seeds": seeds,
                "data": dataset.metadata.sha256,
            }
        )
        return Plan(sha, tuple(f"mcv{s}" for s in seeds), payload=fraction)

    def run(self, context: UnitContext) -> UnitOutput:
        split_seed = int(context.unit.removeprefix("mcv"))
        seen, held = binomial_split(context.dataset.inputs, context.plan.payload, split_seed)
        train = Dataset(inputs=seen, targets=None, metadata=context.dataset.metadata)
        start = time.perf_counter()
        context.model.fit(train, seed=context.seed)
        fitted = time.perf_counter()
        denoised = np.asarray(context.model.predict(train).values, dtype=np.float64)
        predicted = time.perf_counter()
        if denoised.shape != seen.shape:
            raise DataError(
                f"model '{context.model_name}' returned a {denoised.shape} matrix for "
                f"{seen.shape} counts"
            )
        if not np.all(np.isfinite(denoised)):
            raise DataError(f"model '{context.model_name}' returned non-finite values")
        # Open Problems rescales the denoised matrix to the held-out total before scoring.
        scaled = denoised * (held.sum() / max(float(denoised.sum()), 1e-12))
        truth = held.toarray()
        return UnitOutput(
            metrics={m.name: m(truth, Predictions(values=scaled)) for m in context.metrics},
            fit_seconds=fitted - start,
            predict_seconds=predicted - fitted,
            info={
                "split_seed": str(split_seed),
                "held_out_fraction": str(context.plan.payload),
                "n_cells": str(seen.shape[0]),
                "n_genes": str(seen.shape[1]),
                **{f"fitted.{k}": v for k, v in fitted_choice_tags(context.model).items()},
            },
        )


# ---- denoisers: fit on the seen counts, predict their denoised matrix (counts scale) ----


def _counts(dataset: Dataset) -> npt.NDArray[np.float64]:
    x = dataset.inputs
    return np.asarray(x.toarray() if sparse.issparse(x) else x, dtype=np.float64)


def _to_counts(
    log_values: npt.NDArray[Any], library: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Back from log1p(normalised to 1e4) to each cell's own count scale."""
    expression = np.clip(np.expm1(log_values), 0, None)
    totals = expression.sum(1, keepdims=True)
    return np.asarray(expression / np.where(totals > 0, totals, 1.0) * library, dtype=np.float64)


class NoDenoising:
    """The negative control: the seen counts as they are."""

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del train, valid, seed

    def predict(self, dataset: Dataset) -> Predictions:
        return Predictions(values=_counts(dataset))


class PcaDenoiser:
    """Low-rank reconstruction: PCA of the log-normalised counts, projected back."""

    def __init__(self, n_components: int = 30) -> None:
        self.n_components = n_components

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        from sklearn.decomposition import PCA

        x = log_normalise(_counts(train))
        k = min(self.n_components, x.shape[0] - 1, x.shape[1] - 1)
        self.pca_ = PCA(n_components=k, random_state=seed, svd_solver="randomized").fit(x)

    def predict(self, dataset: Dataset) -> Predictions:
        counts = _counts(dataset)
        x = log_normalise(counts)
        smoothed = self.pca_.inverse_transform(self.pca_.transform(x))
        return Predictions(values=_to_counts(smoothed, counts.sum(1, keepdims=True)))


class DiffusionDenoiser:
    """MAGIC-like smoothing (van Dijk et al. 2018), written here: an adaptive Gaussian
    kernel on a kNN graph in PCA space, made a Markov matrix and applied `t` times to
    the log-normalised expression."""

    def __init__(self, n_neighbors: int = 10, t: int = 3, n_components: int = 50) -> None:
        self.n_neighbors, self.t, self.n_components = n_neighbors, t, n_components

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del train, valid
        self.seed_ = seed

    def predict(self, dataset: Dataset) -> Predictions:
        from sklearn.decomposition import PCA
        from sklearn.neighbors import NearestNeighbors

        counts = _counts(dataset)
        x = log_normalise(counts)
        k_pcs = min(self.n_components, x.shape[0] - 1, x.shape[1] - 1)
        z = PCA(n_components=k_pcs, random_state=self.seed_, svd_solver="randomized").fit_transform(
            x
        )
        k = min(self.n_neighbors, len(x) - 1)
        distances, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z)
        bandwidth = np.maximum(distances[:, -1:], 1e-12)  # distance to the k-th neighbour
        weights = np.exp(-((distances / bandwidth) ** 2))
        n = len(x)
        affinity = sparse.csr_matrix(
            (weights.ravel(), neighbours.ravel(), np.arange(0, n * (k + 1) + 1, k + 1)),
            shape=(n, n),
        )
        affinity = (affinity + affinity.T) / 2
        markov = sparse.diags(1 / np.asarray(affinity.sum(1)).ravel()) @ affinity
        smoothed = x.astype(np.float64)
        for _ in range(self.t):
            smoothed = markov @ smoothed
        return Predictions(values=_to_counts(smoothed, counts.sum(1, keepdims=True)))


class CountAutoencoder:
    """A count autoencoder (DCA-like, Eraslan et al. 2019, written here) in torch: the
    log-normalised counts are encoded through a bottleneck and decoded into each cell's
    expected counts (softmax over genes x library size), trained with a Poisson loss
    on the seen counts. The counts it predicts are those expected rates."""

    def __init__(
        self,
        hidden: int = 128,
        bottleneck: int = 32,
        dropout: float = 0.1,
        max_epochs: int = 100,
        lr: float = 1e-3,
        batch_size: int = 64,
        patience: int = 10,
    ) -> None:
        from assay.torch_training import TrainConfig

        self.hidden, self.bottleneck, self.dropout = hidden, bottleneck, dropout
        self.batch_size = batch_size
        self.config = TrainConfig(max_epochs=max_epochs, lr=lr, patience=patience)

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        import torch
        from assay.torch_training import fit_module, seed_everything, tensor_batches
        from torch import nn

        seed_everything(seed)
        counts = _counts(train)
        n_genes = counts.shape[1]

        class Network(nn.Module):
            def __init__(self, hidden: int, bottleneck: int, dropout: float) -> None:
                super().__init__()
                self.body = nn.Sequential(
                    nn.Linear(n_genes, hidden),
                    nn.ReLU(),
                    nn.Dropout(dropout),
                    nn.Linear(hidden, bottleneck),
                    nn.ReLU(),
                    nn.Linear(bottleneck, hidden),
                    nn.ReLU(),
                    nn.Linear(hidden, n_genes),
                )

            def forward(self, x: torch.Tensor, library: torch.Tensor) -> torch.Tensor:
                return torch.softmax(self.body(x), dim=1) * library

        def poisson(rate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return nn.functional.poisson_nll_loss(rate, target, log_input=False, full=False)

        self.net_ = Network(self.hidden, self.bottleneck, self.dropout)
        x, library = self._inputs(counts)
        self.training_ = fit_module(
            self.net_,
            tensor_batches(x, library, counts.astype(np.float32), batch_size=self.batch_size),
            poisson,
            config=self.config,
            seed=seed,
        )

    def fitted_choices(self) -> dict[str, Any]:
        return dict(self.training_.choices())

    @staticmethod
    def _inputs(
        counts: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        library = counts.sum(1, keepdims=True).astype(np.float32)
        return log_normalise(counts), library

    def predict(self, dataset: Dataset) -> Predictions:
        from assay.torch_training import predict_batches, tensor_batches

        x, library = self._inputs(_counts(dataset))
        batches = tensor_batches(x, library, batch_size=512, shuffle=False)
        rates = predict_batches(self.net_, batches(np.random.default_rng(0)))
        return Predictions(values=rates)
