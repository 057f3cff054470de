"""Count denoising: the counts source (celltypist's sample or a user's table) and the
denoisers, each fitted on the seen counts of molecular cross-validation (see `mcv`)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import (
    DataError,
    Dataset,
    DatasetMetadata,
    Predictions,
    SourceParams,
    UserFileSource,
    read_array,
    read_json,
    reason,
    write_array,
    write_json,
)
from pydantic import Field
from scipy import sparse

from assay_lifesci.cells import log_normalise, read_h5ad_file

CELLTYPIST_SAMPLE = "celltypist/data/samples/sample_cell_by_gene.csv"
SAMPLE = "celltypist-sample"
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
        counts, genes = _read_count_csv(path)
    if counts.ndim != 2 or counts.shape[0] < 2 or counts.shape[1] < 2:
        raise DataError(f"{path.name}: expected a cells x genes matrix, got shape {counts.shape}")
    # Counts that went through floating point (celltypist's sample: 0.999999999999999)
    # are integers within rounding; anything further off is not a count.
    # One deviation array instead of a temporary per test (NaN and infinities fail both).
    rounded = np.round(counts)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, refused below
        deviation = np.subtract(counts, rounded)
    np.abs(deviation, out=deviation)
    ok = deviation <= INTEGER_TOLERANCE
    ok &= counts >= 0
    if not ok.all():
        row, col = (int(i[0]) for i in np.nonzero(~ok))
        raise DataError(
            f"{path.name}: denoising needs raw integer counts, but cell {row + 1}, gene "
            f"'{genes[col]}' holds {float(counts[row, col])!r} (normalised or log values?)"
        )
    return rounded, genes


def _read_count_csv(path: Path) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Cells in rows (their names in the first column, not kept), genes in the header.

    numpy's C parser over the numeric columns: pandas' reader spends most of its time
    on per-column bookkeeping when a table has tens of thousands of genes."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path.name}: not a readable count CSV ({reason(exc)})") from None
    if len(header) < 2:
        raise DataError(f"{path.name}: expected a header row: an empty first cell, then gene names")
    try:
        counts = np.loadtxt(
            path,
            delimiter=",",
            quotechar='"',
            skiprows=1,
            usecols=range(1, len(header)),
            dtype=np.float64,
            ndmin=2,
            encoding="utf-8",
        )
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not a readable count CSV ({reason(exc)})") from None
    except ValueError as exc:
        raise DataError(
            f"{path.name}: the count matrix holds non-numeric entries or short rows "
            f"({reason(exc)}); expected cells in rows, genes in columns, integer UMI counts"
        ) from None
    _refuse_long_rows(path, len(header))
    return counts, header[1:]


def _refuse_long_rows(path: Path, width: int) -> None:
    """numpy ignores columns beyond `usecols`, so a row longer than the header would be
    cut silently. One count of the separators settles the usual case; only a mismatch
    (a longer row, or quoted names holding commas) walks the rows to name the culprit."""
    raw = path.read_bytes()
    rows = sum(1 for line in raw.splitlines() if line.strip())
    if raw.count(b",") == rows * (width - 1):
        return
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if len(row) > width:
                raise DataError(
                    f"{path.name}: row {number} has {len(row)} fields but the header has "
                    f"{width}; expected one cell name, then one count per gene"
                )


class CountsParams(SourceParams):
    path: str = SAMPLE
    """A count CSV or .h5ad, or "celltypist-sample" (the default)."""
    min_cells: int = Field(default=1, ge=1)
    max_genes: int | None = Field(default=None, ge=1)


class CountsSource(UserFileSource[CountsParams]):
    """Raw UMI counts: celltypist's bundled sample (559 cells x 32,786 genes) or a user's
    count CSV / `.h5ad`. `min_cells` drops genes detected in fewer cells; `max_genes`
    keeps the genes with the most counts. The matrix is stored sparse (CSR)."""

    name = "lifesci.counts"
    version = "1"
    params_model = CountsParams

    def generator_versions(self) -> dict[str, str]:
        return {"reader": "1"}

    def resolve(self, params: CountsParams) -> Path:
        raw = params.path
        return celltypist_sample_path() if raw == SAMPLE else self.given_path(params)

    def input_files(self, params: CountsParams) -> list[Path]:
        return [self.resolve(params)]

    def prepare(self, params: CountsParams, out_dir: Path) -> None:
        counts, genes = read_count_table(self.resolve(params))
        detected = (counts > 0).sum(axis=0)
        keep = np.flatnonzero(detected >= params.min_cells)
        max_genes = params.max_genes
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

    def load(self, params: CountsParams, files_dir: Path) -> Dataset:
        shape = tuple(read_json(files_dir / "shape.json"))
        matrix = sparse.csr_matrix(
            (
                read_array(files_dir / "data.npy"),
                read_array(files_dir / "indices.npy"),
                read_array(files_dir / "indptr.npy"),
            ),
            shape=shape,
        )
        sample = str(params.path) == SAMPLE
        metadata = (
            DatasetMetadata(
                name="celltypist-sample",
                version="1",
                provenance=(
                    f"celltypist's bundled {CELLTYPIST_SAMPLE} (559 cells, 10x UMI counts); "
                    f"{shape[1]} genes kept"
                ),
                licence="celltypist (MIT), sample data shipped in its wheel",
            )
            if sample
            else self.user_metadata(params, files_dir, name=self.resolve(params).stem)
        )
        return Dataset(inputs=matrix, targets=None, metadata=metadata)


# ---- denoisers: fit on the seen counts, predict their denoised matrix (counts scale) ----


def dense_counts(dataset: Dataset) -> npt.NDArray[np.float64]:
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
        return Predictions(values=dense_counts(dataset))


class PcaDenoiser:
    """Low-rank reconstruction: PCA of the log-normalised counts, projected back."""

    def __init__(self, n_components: int = 30) -> None:
        self.n_components = n_components

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        from sklearn.decomposition import PCA

        x = log_normalise(dense_counts(train))
        k = min(self.n_components, x.shape[0] - 1, x.shape[1] - 1)
        self.pca_ = PCA(n_components=k, random_state=seed, svd_solver="randomized").fit(x)

    def predict(self, dataset: Dataset) -> Predictions:
        counts = dense_counts(dataset)
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

        counts = dense_counts(dataset)
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
