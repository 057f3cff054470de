"""Life-science speed figures, measured side by side in one run.

1. Preprocessing throughput (cells/s) on celltypist's 559-cell sample counts:
   normalisation to 10,000 per cell + log1p here (numpy) beside scanpy's
   `normalize_total` + `log1p`, and the binomial MCV split of the counts.
2. Windowing throughput (bases/s) on pyrodigal's bundled NCTC11397 genome
   (2.46 Mb): cutting and labelling 240-bp windows, k-mer (k=4) and one-hot
   featurisation, beside pyrodigal's own gene finding (train + find).
3. The one-off numba warm-up of scanpy's `rank_genes_groups`, against a warm call.

Run: `python packages/lifesci/bench/bench_lifesci.py`.
"""

from __future__ import annotations

import platform
import time

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


def preprocessing() -> None:
    import anndata
    import scanpy as sc

    read_s, (counts, _) = timed(read_count_table, celltypist_sample_path())
    n = counts.shape[0]
    print(
        f"celltypist sample: {counts.shape[0]} cells x {counts.shape[1]} genes, CSV read {read_s:.1f} s"
    )
    ours_s, ours = timed(log_normalise, counts)
    adata = anndata.AnnData(X=counts.astype(np.float32))

    def scanpy_norm() -> np.ndarray:
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        return np.asarray(adata.X)

    scanpy_s, theirs = timed(scanpy_norm)
    assert np.allclose(ours, theirs, atol=1e-4)
    split_s, _ = timed(binomial_split, sparse.csr_matrix(counts), 0.1, 0)
    print(f"{'step':42s} {'cells/s':>12s}")
    print(f"{'normalise + log1p (assay_lifesci, numpy)':42s} {n / ours_s:12.0f}")
    print(
        f"{'normalize_total + log1p (scanpy)':42s} {n / scanpy_s:12.0f}   ratio {scanpy_s / ours_s:.2f}"
    )
    print(f"{'binomial MCV split (sparse)':42s} {n / split_s:12.0f}")


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
