"""Cell-annotation sources: scanpy's bundled PBMC cells and a user's `.h5ad`.

Both store one log-normalised expression matrix (cells x genes, float32),
the cell-type labels and, for the user's file, the batch of every cell. Raw
counts are normalised to 10,000 per cell and log1p-transformed, as Open
Problems' label-projection baselines expect; a matrix that already holds
log-normalised values is kept as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from assay.kit import (
    EXAMPLE,
    DataError,
    Dataset,
    DatasetMetadata,
    ExportView,
    Source,
    SourceParams,
    UserFileSource,
    default_columns,
    read_array,
    read_json,
    reason,
    require_varying_target,
    write_array,
    write_json,
)
from pydantic import Field

PBMC_FILE = "10x_pbmc68k_reduced.h5ad"
MAX_VALUES = 400_000_000
"""Cells x genes above which a dense copy would need gigabytes: ask for `top_genes`."""
TARGET_SUM = 1e4
NORMALISE_BLOCK = 1 << 16
"""Entries per block in `log_normalise`: a block and its temporaries stay in cache."""


def scanpy_version() -> str:
    from importlib.metadata import version

    return version("scanpy")


def bundled_pbmc_path() -> Path:
    """scanpy's bundled `10x_pbmc68k_reduced.h5ad`, found without importing scanpy."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(str(distribution("scanpy").locate_file(f"scanpy/datasets/{PBMC_FILE}")))
    except PackageNotFoundError:
        raise DataError("scanpy is not installed; install assay-lifesci") from None
    if not path.is_file():
        raise DataError(f"scanpy's bundled {PBMC_FILE} is missing from {path.parent}")
    return path


def dense(matrix: Any) -> npt.NDArray[np.float32]:
    """A dense float32 copy of a dense or scipy-sparse matrix."""
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float32)


def is_count_matrix(x: npt.NDArray[Any]) -> bool:
    """True when every entry is a non-negative integer (raw UMI counts)."""
    return bool(np.all(x >= 0) and np.all(np.mod(x, 1) == 0))


def log_normalise(counts: npt.NDArray[Any], target_sum: float = TARGET_SUM) -> npt.NDArray[Any]:
    """Counts scaled to `target_sum` per cell, then log1p (scanpy's normalize_total + log1p),
    as float32.

    Bit for bit `log1p(counts * (target_sum / totals)).astype(float32)` in the input's
    precision, but computed on the non-zero entries only (most of a count matrix is
    zero, and log1p(0) = 0), a cache-sized block at a time. Raw counts held as C-ordered
    floats take numba kernels instead (`normalise`): one read from memory, and log1p of
    each cell's distinct counts only, for the same bytes."""
    raw_floats = counts.dtype in (np.float64, np.float32) and counts.flags.c_contiguous
    if raw_floats and counts.ndim == 2 and counts.size:
        from assay_lifesci.normalise import log_normalise_counts

        fast = log_normalise_counts(counts, target_sum)
        if fast is not None:
            return fast
    totals = counts.sum(axis=1, keepdims=True)
    factor = (target_sum / np.where(totals > 0, totals, 1.0)).ravel()
    n_rows, n_columns = counts.shape
    # Walk the matrix in its memory order (pandas, for one, hands out column-major arrays).
    column_major = counts.flags.f_contiguous and not counts.flags.c_contiguous
    order: Literal["C", "F"] = "F" if column_major else "C"
    flat = counts.ravel(order=order)
    out = np.zeros(counts.shape, dtype=np.float32, order=order)
    out_flat = out.ravel(order=order)
    # Floats are compared by their bits, so that -0.0 keeps its sign as it did in log1p.
    bits = flat.view(f"u{flat.itemsize}") if flat.dtype.kind == "f" else flat
    for start in range(0, flat.size, NORMALISE_BLOCK):
        block = flat[start : start + NORMALISE_BLOCK]
        where = np.flatnonzero(bits[start : start + NORMALISE_BLOCK] != 0)
        rows = (where + start) % n_rows if column_major else (where + start) // n_columns
        scaled = block[where] * factor[rows]
        out_flat[where + start] = np.log1p(scaled, out=scaled)
    return out


def _write_cells(
    out_dir: Path,
    x: npt.NDArray[np.float32],
    labels: npt.NDArray[Any],
    genes: list[str],
    batches: npt.NDArray[Any] | None,
    info: Mapping[str, Any],
) -> None:
    write_array(out_dir / "expression.npy", x)
    write_array(out_dir / "labels.npy", labels.astype(str))
    if batches is not None:
        write_array(out_dir / "batches.npy", batches.astype(str))
    write_json(out_dir / "genes.json", genes)
    write_json(out_dir / "info.json", dict(info))


def read_genes(files_dir: Path) -> list[str]:
    """The gene names of a cached cell dataset, in column order."""
    genes: list[str] = read_json(files_dir / "genes.json")
    return genes


def expression_view(dataset: Dataset) -> ExportView:
    """Cells as rows: the expression matrix as one list column, the cell type as target."""
    genes = np.asarray(dataset.inputs).shape[1]
    return ExportView(
        inputs=default_columns(
            dataset.inputs,
            name="expression",
            description=f"log-normalised expression of {genes} genes (one value per gene)",
        ),
        target_description="the cell's type label",
    )


class PbmcSource(Source[SourceParams]):
    """scanpy's bundled PBMC 68k subsample: 700 cells x 765 genes, 10 `bulk_labels` types.

    The log-normalised `raw.X` is the expression matrix; `X` in the file is
    scaled per gene (a transformation fitted on all cells), so it is not used.
    """

    name = "lifesci.pbmc68k_reduced"
    version = "1"

    def generator_versions(self) -> dict[str, str]:
        return {"scanpy": scanpy_version()}

    params_model = SourceParams  # no parameters: any key is refused

    def prepare(self, params: SourceParams, out_dir: Path) -> None:
        adata = read_h5ad_file(bundled_pbmc_path())
        assert adata.raw is not None
        x = dense(adata.raw.X)
        labels = np.asarray(adata.obs["bulk_labels"].astype(str))
        _write_cells(out_dir, x, labels, list(adata.raw.var_names), None, {"values": "log"})

    def export_view(self, dataset: Dataset, params: SourceParams) -> ExportView:
        del params
        return expression_view(dataset)

    def load(self, params: SourceParams, files_dir: Path) -> Dataset:
        return Dataset(
            inputs=read_array(files_dir / "expression.npy"),
            targets=read_array(files_dir / "labels.npy"),
            metadata=DatasetMetadata(
                name="pbmc68k_reduced",
                version="1",
                provenance=(
                    f"scanpy {scanpy_version()} bundled {PBMC_FILE} (scanpy.datasets."
                    "pbmc68k_reduced): 700 cells of 10x Genomics' fresh 68k PBMC "
                    "(Zheng et al. 2017), log-normalised raw.X, 765 genes"
                ),
                licence="10x Genomics public data (CC BY 4.0), shipped in scanpy (BSD-3-Clause)",
                notes=("bulk_labels come from FACS-sorted reference populations (Zheng et al.)",),
            ),
        )


class H5adParams(SourceParams):
    path: str = ""
    """The .h5ad file, or "example" for scanpy's bundled PBMC file."""
    target: str | None = Field(default=None, min_length=1)
    """The label column in obs (--target COLUMN); a user's file has no default."""
    batch: str | None = Field(default=None, min_length=1)
    """The batch column in obs (--set batch=COLUMN); inferred only when unambiguous."""
    layer: str | None = None
    top_genes: int | None = Field(default=None, ge=2)


EXAMPLE_TARGET = "bulk_labels"
EXAMPLE_BATCH = "phase"
"""The bundled example's columns; never a default for a user's file."""
BATCH_NAME = "batch"
"""The one obs column a batch is inferred from without `--set batch=`: the name anndata
(`AnnData.concatenate`) and scanpy (`sc.pp.combat`) give the batch by default."""
SCALED = "scaled (negative values, as after sc.pp.scale), used as stored"


def matrix_name(layer: str | None, has_raw: bool) -> str:
    """Which matrix is read: the layer asked for, else raw.X where the file has it, else X."""
    if layer is not None:
        return f"layer '{layer}'"
    return "raw.X" if has_raw else "X"


def _has_raw(path: Path) -> bool:
    """Whether an h5ad file stores raw.X, without reading it: a `raw` group (anndata >= 0.7)
    or a `raw.X` dataset (older files, scanpy's bundled PBMC among them)."""
    import h5py  # type: ignore[import-untyped]

    with h5py.File(path, "r") as handle:
        return "raw" in handle or "raw.X" in handle


def _candidates(obs: Any, exclude: str | None) -> str:
    """Obs columns that could hold batches: text, categories or integers with 2 or more
    values, fewer than one per cell."""
    import pandas as pd

    found = [
        str(name)
        for name in obs.columns
        if name != exclude
        and not pd.api.types.is_float_dtype(obs[name])
        and 2 <= obs[name].nunique() < len(obs)
    ]
    return ", ".join(found) if found else "none: obs has no such column"


class H5adSource(UserFileSource[H5adParams]):
    """A user's `.h5ad` with a cell-type label column and a batch column in `obs`.

    Parameters: `path` (the file; `"example"` is scanpy's bundled PBMC file,
    whose `bulk_labels` are the labels and cell-cycle `phase` stands in for a
    batch), `target` (label column), `batch` (batch column; without it, only
    an obs column named `batch` is taken, and otherwise one line asks for it),
    `layer` (a layer to read instead of `raw.X` or `X`), `top_genes` (keep the
    genes of highest variance, for large files). What was read (the matrix,
    the normalisation found, the columns and how they were chosen) is in the
    notes and provenance. The cache entry is keyed by the file's sha256 and
    never rebuilt silently.
    """

    name = "lifesci.h5ad"
    version = "1"
    params_model = H5adParams

    def generator_versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"anndata": version("anndata")}

    def resolve(self, params: H5adParams) -> Path:
        example = bundled_pbmc_path() if params.path == EXAMPLE else None
        return self.given_path(params, example=example)

    def export_view(self, dataset: Dataset, params: H5adParams) -> ExportView:
        del params
        return expression_view(dataset)

    def input_files(self, params: H5adParams) -> list[Path]:
        return [self.resolve(params)]

    @staticmethod
    def columns(params: H5adParams) -> tuple[str | None, str, str]:
        """(label column, batch column, how the batch column was chosen)."""
        example = params.path == EXAMPLE
        target = params.target or (EXAMPLE_TARGET if example else None)
        if params.batch:
            return target, params.batch, "given"
        if example:
            return target, EXAMPLE_BATCH, "the example's stand-in for a batch"
        return target, BATCH_NAME, "the obs column named batch; --set batch=COLUMN for another"

    def prepare(self, params: H5adParams, out_dir: Path) -> None:
        path = self.resolve(params)
        adata = read_h5ad_file(path)
        target, batch, _ = self.columns(params)
        obs = adata.obs
        if target is None:
            raise DataError(
                f"{path.name}: which obs column holds the cell-type labels? pass --target "
                f"COLUMN (obs has {', '.join(map(str, obs.columns)) or 'no columns'})"
            )
        if not params.batch and batch not in obs.columns:
            raise DataError(
                f"{path.name}: which obs column holds the batches? pass --set batch=COLUMN "
                f"(candidates: {_candidates(obs, exclude=target)})"
            )
        for column, role in ((target, "label (--target)"), (batch, "batch (--set batch=)")):
            if column not in obs.columns:
                raise DataError(
                    f"{path.name}: no obs column '{column}' for the {role}; "
                    f"obs has {', '.join(map(str, obs.columns)) or 'no columns'}"
                )
        layer = params.layer
        if layer is not None:
            if layer not in adata.layers:
                raise DataError(f"{path.name}: no layer '{layer}' (layers: {list(adata.layers)})")
            matrix, genes = adata.layers[layer], list(map(str, adata.var_names))
        elif adata.raw is not None:
            matrix, genes = adata.raw.X, list(map(str, adata.raw.var_names))
        else:
            matrix, genes = adata.X, list(map(str, adata.var_names))
        n_cells, n_genes = matrix.shape
        top = params.top_genes
        if top is None and n_cells * n_genes > MAX_VALUES:
            raise DataError(
                f"{path.name}: {n_cells} cells x {n_genes} genes is too large to hold densely; "
                "pass --set top_genes=N (e.g. 2000) to keep the most variable genes"
            )
        x = dense(matrix)
        if not np.all(np.isfinite(x)):
            raise DataError(f"{path.name}: the expression matrix holds NaN or infinite values")
        counts = is_count_matrix(x)
        scaled = not counts and bool(np.any(x < 0))
        if counts:
            x = log_normalise(x)
        if top is not None and top < x.shape[1]:
            keep = np.sort(np.argsort(-x.var(axis=0), kind="stable")[:top])
            x, genes = np.ascontiguousarray(x[:, keep]), [genes[i] for i in keep]
        labels = obs[target]
        if labels.isna().any():
            raise DataError(
                f"{path.name}: label column '{target}' has {labels.isna().sum()} empty cells"
            )
        require_varying_target(
            np.asarray(labels.astype(str)), file=path.name, column=f"label column '{target}'"
        )
        batches = obs[batch]
        if batches.isna().any():
            raise DataError(
                f"{path.name}: batch column '{batch}' has {batches.isna().sum()} empty cells"
            )
        n_batches = batches.nunique()
        if n_batches < 2:
            raise DataError(
                f"{path.name}: batch column '{batch}' has {n_batches} batch; "
                "label projection needs at least two"
            )
        values = (
            "counts, log-normalised here"
            if counts
            else (SCALED if scaled else "as stored (taken as log)")
        )
        _write_cells(
            out_dir,
            x,
            np.asarray(labels.astype(str)),
            genes,
            np.asarray(batches.astype(str)),
            {"values": values},
        )

    def load(self, params: H5adParams, files_dir: Path) -> Dataset:
        path = self.resolve(params)
        info = read_json(files_dir / "info.json")
        example = str(params.path) == EXAMPLE
        target, batch, how = self.columns(params)
        # Derived here, not stored: the cached files (hence the data sha) stay as they were.
        matrix = matrix_name(params.layer, _has_raw(path))
        read = f"expression matrix {matrix}, values {info['values']}"
        columns = f"labels: obs '{target}'; batches: obs '{batch}' ({how})"
        notes = [read, columns]
        if info["values"] == SCALED:
            notes.append(
                f"warning: {matrix} holds negative values, as after sc.pp.scale; the models "
                "expect log-normalised expression: keep counts or log values in raw.X or a "
                "layer (--set layer=NAME) to use those instead"
            )
        metadata = (
            DatasetMetadata(
                name="pbmc68k_reduced-by-phase",
                version="1",
                provenance=f"scanpy's bundled {PBMC_FILE}; cell-cycle phase stands in for the "
                f"batch; {read}; {columns}",
                licence="10x Genomics public data (CC BY 4.0), shipped in scanpy (BSD-3-Clause)",
                notes=tuple(notes),
            )
            if example
            else self.user_metadata(
                params, files_dir, name=path.stem, details=f"{read}; {columns}", notes=notes
            )
        )
        return Dataset(
            inputs=read_array(files_dir / "expression.npy"),
            targets=read_array(files_dir / "labels.npy"),
            groups=read_array(files_dir / "batches.npy"),
            metadata=metadata,
        )


def read_h5ad_file(path: Path) -> Any:
    """An AnnData read from `path`, or one line saying why the file is not a readable h5ad."""
    import warnings

    import anndata

    try:
        with warnings.catch_warnings():
            # Files written before anndata 0.7 (scanpy's bundled PBMC among them) lack
            # encoding metadata; anndata reads them correctly and only warns,
            # and move old-style neighbour graphs from uns to obsp with a FutureWarning.
            warnings.simplefilter("ignore", anndata.OldFormatWarning)
            warnings.filterwarnings("ignore", "Moving element from .uns", FutureWarning)
            return anndata.read_h5ad(path)
    except Exception as exc:  # h5py and anndata raise many kinds for a bad file
        raise DataError(f"{path.name}: not a readable .h5ad file ({reason(exc)})") from None
