"""Life-science speed figures, measured side by side in one run.

1. Preprocessing throughput (cells/s) on celltypist's 559-cell sample counts:
   normalisation to 10,000 per cell + log1p here (numba kernels around numpy's
   log1p) beside scanpy's `normalize_total` + `log1p`, and the binomial MCV split
   of the counts. Both normalisations start from the same count matrix (as the
   reader returns it) and leave it as it is, so scanpy's time includes the float32
   AnnData it works on in place; its in-place time alone is printed too. Best of
   three calls each. Then the counts reader beside pandas' and anndata's own CSV
   readers on one synthetic count CSV of celltypist's shape, written here.
2. Windowing throughput (bases/s) on pyrodigal's bundled NCTC11397 genome
   (2.46 Mb): cutting and labelling 240-bp windows, k-mer (k=4) and one-hot
   featurisation, beside pyrodigal's own gene finding (train + find).
3. The one-off numba warm-up of scanpy's `rank_genes_groups`, against a warm call.

Run: `python packages/lifesci/bench/bench_lifesci.py`.
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from assay_lifesci import annotation
from assay_lifesci.cells import log_normalise
from assay_lifesci.deep import one_hot
from assay_lifesci.denoising import celltypist_sample_path, read_count_table
from assay_lifesci.genome import (
    NCTC11397,
    encode,
    kmer_counts,
    pyrodigal_data,
    read_fasta,
    windows,
)
from assay_lifesci.protocol import binomial_split
from scipy import sparse


def timed(fn: object, *args: object) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start, out


def best_of(repeats: int, fn: object, *args: object) -> tuple[float, object]:
    runs = [timed(fn, *args) for _ in range(repeats)]
    return min(r[0] for r in runs), runs[-1][1]


def preprocessing() -> None:
    import anndata
    import scanpy as sc

    read_s, (counts, _) = timed(read_count_table, celltypist_sample_path())
    n = counts.shape[0]
    print(
        f"celltypist sample: {counts.shape[0]} cells x {counts.shape[1]} genes, CSV read {read_s:.1f} s"
    )
    ours_s, ours = best_of(3, log_normalise, counts)

    def scanpy_norm(adata: anndata.AnnData) -> np.ndarray:
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        return np.asarray(adata.X)

    def scanpy_from_counts() -> np.ndarray:
        return scanpy_norm(anndata.AnnData(X=counts.astype(np.float32)))

    scanpy_s, theirs = best_of(3, scanpy_from_counts)
    in_place_s = min(
        timed(scanpy_norm, anndata.AnnData(X=counts.astype(np.float32)))[0] for _ in range(3)
    )
    assert np.allclose(ours, theirs, atol=1e-4)
    split_s, _ = timed(binomial_split, sparse.csr_matrix(counts), 0.1, 0)
    print(f"{'step':42s} {'cells/s':>12s}")
    print(f"{'normalise + log1p (assay_lifesci, numba)':42s} {n / ours_s:12.0f}")
    print(
        f"{'normalize_total + log1p (scanpy)':42s} {n / scanpy_s:12.0f}   ratio {scanpy_s / ours_s:.2f}"
    )
    print(
        f"{'  the same, float32 AnnData made beforehand':42s} {n / in_place_s:12.0f}"
        f"   ratio {in_place_s / ours_s:.2f}"
    )
    print(f"{'binomial MCV split (sparse)':42s} {n / split_s:12.0f}")
    reading()


def write_count_csv(path: Path, n_cells: int, n_genes: int) -> None:
    """Integer counts, about 6 % non-zero as in celltypist's sample, cells in rows."""
    rng = np.random.default_rng(0)
    with path.open("w") as out:
        out.write("," + ",".join(f"gene{j}" for j in range(n_genes)) + "\n")
        for i in range(n_cells):
            row = rng.poisson(0.1, n_genes)
            out.write(f"cell{i}," + ",".join(map(str, row.tolist())) + "\n")


def reading(n_cells: int = 559, n_genes: int = 32_786) -> None:
    import anndata.io
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "counts.csv"
        write_count_csv(path, n_cells, n_genes)
        megabytes = path.stat().st_size / 1e6
        print(f"synthetic count CSV: {n_cells} cells x {n_genes} genes, {megabytes:.0f} MB")
        print(f"{'reader':42s} {'cells/s':>12s}")
        ours_s, _ = timed(read_count_table, path)
        print(f"{'read_count_table (assay_lifesci)':42s} {n_cells / ours_s:12.0f}")
        for name, reader in (
            ("pandas.read_csv(index_col=0)", lambda: pd.read_csv(path, index_col=0)),
            ("anndata.io.read_csv", lambda: anndata.io.read_csv(path)),
        ):
            their_s, _ = timed(reader)
            print(f"{name:42s} {n_cells / their_s:12.0f}   ratio {their_s / ours_s:.2f}")


def windowing() -> None:
    import pyrodigal

    genome = read_fasta(pyrodigal_data(NCTC11397))
    bases = sum(len(s) for s in genome.values())
    cut_s, rows = timed(lambda: list(windows(genome, {k: [] for k in genome}, 240, 50_000)))
    sequences = np.array([r[2] for r in rows], dtype="<U240")
    kmer_s, _ = timed(kmer_counts, sequences, 4)
    onehot_s, _ = timed(one_hot, sequences)
    encode_s, _ = timed(encode, sequences)
    sequence = next(iter(genome.values())).encode()
    finder = pyrodigal.GeneFinder()
    train_s, _ = timed(finder.train, sequence)
    find_s, genes = timed(finder.find_genes, sequence)
    print(
        f"NCTC11397: {bases:,} bp, {len(rows):,} windows of 240 bp, {len(genes):,} genes by pyrodigal"
    )
    print(f"{'step':42s} {'bases/s':>12s}")
    for name, seconds in (
        ("cut + label windows", cut_s),
        ("encode windows (integer codes)", encode_s),
        ("k-mer (k=4) frequencies", kmer_s),
        ("one-hot for the CNN", onehot_s),
        ("pyrodigal train", train_s),
        ("pyrodigal find genes", find_s),
    ):
        print(f"{name:42s} {bases / seconds:12.3g}")


def warm_up() -> None:
    cold_s, _ = timed(annotation.warm_up)
    rng = np.random.default_rng(0)
    x = rng.random((700, 765)).astype(np.float32)
    labels = np.repeat(np.array(list("abcdefghij")), 70)
    warm_s, _ = timed(annotation.marker_genes, x, labels, 20)
    print(
        f"scanpy rank_genes_groups: first call in a process (warm-up) {cold_s:.2f} s; "
        f"700 cells x 765 genes afterwards {warm_s:.2f} s"
    )


def main() -> None:
    print(f"lifesci bench on {platform.processor() or platform.machine()}")
    preprocessing()
    windowing()
    warm_up()


if __name__ == "__main__":
    main()
