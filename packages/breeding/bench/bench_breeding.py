"""Breeding speed figures, measured side by side in one run.

1. Population simulation against bare msprime for the same founders: the
   msprime ancestry + mutations alone, then the whole `breed` (founders, chip
   and QTL choice, generations of crosses with recombination), and the ratio.
2. GBLUP fit + predict time (VanRaden G, REML variance ratio, Cholesky
   solve) at 1k and 5k individuals, 80 % train / 20 % test, on random
   dosages of the standard chip size (2,000 SNPs); and the fit with the
   ratio fixed from h2 (no REML eigendecomposition).

Run: `python packages/breeding/bench/bench_breeding.py [--sizes 1000,5000]`.
Under CI (env CI set) GBLUP runs at 1k only.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

import numpy as np
from assay.data.dataset import Dataset, DatasetMetadata
from assay_breeding.models import GBLUP
from assay_breeding.simulate import PopulationParams, breed, simulate_founders


def simulation(params: PopulationParams) -> tuple[float, float]:
    start = time.perf_counter()
    simulate_founders(params)
    bare = time.perf_counter() - start
    start = time.perf_counter()
    breed(params)
    return bare, time.perf_counter() - start


def gblup_seconds(n: int, m: int, *, h2: float | None) -> float:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.5, size=m)
    x = rng.binomial(2, p, size=(n, m)).astype(np.int8)
    y = x[:, :100] @ rng.normal(size=100) + rng.normal(scale=3.0, size=n)
    meta = DatasetMetadata(name="bench", version="1", provenance="random", licence="none")
    data = Dataset(inputs=x, targets=y, metadata=meta)
    n_train = int(0.8 * n)
    train, test = data.subset(np.arange(n_train)), data.subset(np.arange(n_train, n))
    start = time.perf_counter()
    model = GBLUP(h2=h2)
    model.fit(train)
    model.predict(test.without_targets())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default_sizes = "1000" if os.environ.get("CI") else "1000,5000"
    parser.add_argument("--sizes", default=default_sizes)
    args = parser.parse_args()
    print(
        f"# breeding bench on {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    params = PopulationParams(crosses=25, snps_per_chromosome=200)
    bare, whole = simulation(params)
    print(
        f"simulation, standard population ({params.n_founders} founders x "
        f"{params.n_chromosomes} chromosomes, {params.generations} generations of "
        f"{params.crosses} x {params.family_size}): bare msprime {bare:.2f} s, "
        f"whole breed {whole:.2f} s, ratio {whole / bare:.2f}"
    )
    quick = replace(params, n_founders=60, chromosome_bp=3e7, crosses=20, family_size=8)
    bare, whole = simulation(quick)
    print(
        f"simulation, quick population: bare msprime {bare:.2f} s, whole {whole:.2f} s, ratio {whole / bare:.2f}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        reml = gblup_seconds(n, 2000, h2=None)
        fixed = gblup_seconds(n, 2000, h2=0.5)
        print(
            f"GBLUP n={n}, 2,000 SNPs: REML {reml:.2f} s, fixed h2 {fixed:.2f} s, ratio {reml / fixed:.2f}"
        )


if __name__ == "__main__":
    main()
