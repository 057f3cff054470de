"""Medicine speed figures, measured side by side in one run.

1. Featurisation throughput (molecules/s) per feature block, cold (empty
   cache: RDKit parses and computes), from the disk store (a fresh cache, as
   in another worker or a later run) and from memory (the same cache again),
   on the FreeSolv + solubility molecules.
2. D-MPNN training time per fold on FreeSolv (random 5-fold, the scenario's
   default hyperparameters), with the epochs run and the fold's RMSE.

Run: `python packages/medicine/bench/bench_medicine.py [--folds N] [--max-epochs E]`.
Under CI (env CI set) it runs 2 folds of at most 30 epochs.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from assay.data.cache import DataCache
from assay.data.splits import make_split
from assay_medicine import deep as dmpnn
from assay_medicine.deep import DMPNNModel
from assay_medicine.featurizers import BLOCKS, FeatureCache, featurize
from assay_medicine.sources import FreeSolvSource, SolubilitySource


def featurisation(smiles: list[str]) -> list[tuple[str, float, float, float]]:
    """(block, cold, from the disk store in a fresh cache, from memory) in molecules/s."""
    rows = []
    for block in [*BLOCKS, "ecfp4+rdkit2d"]:
        cache = FeatureCache(disk=True)
        start = time.perf_counter()
        cold = featurize(smiles, block, cache)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        from_disk = featurize(smiles, block, FeatureCache(disk=True))
        disk_s = time.perf_counter() - start
        start = time.perf_counter()
        warm = featurize(smiles, block, cache)
        warm_s = time.perf_counter() - start
        assert np.array_equal(cold, warm)
        assert np.array_equal(cold, from_disk)
        n = len(smiles)
        rows.append((block, n / cold_s, n / disk_s, n / warm_s))
    dmpnn._GRAPHS.clear()
    start = time.perf_counter()
    dmpnn.graphs_of(smiles)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    dmpnn.graphs_of(smiles)
    warm_s = time.perf_counter() - start
    rows.append(("dmpnn graphs", len(smiles) / cold_s, math.nan, len(smiles) / max(warm_s, 1e-9)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ci = "CI" in os.environ
    parser.add_argument("--folds", type=int, default=2 if ci else 5)
    parser.add_argument("--max-epochs", type=int, default=30 if ci else 100)
    args = parser.parse_args()

    # A fresh home: the cold figures must not find a feature store from earlier runs.
    home = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    os.environ["ASSAY_HOME"] = str(home)
    cache = DataCache(home)
    freesolv, _ = cache.load(FreeSolvSource(), {})
    solubility, _ = cache.load(SolubilitySource(), {})
    smiles = [str(s) for s in freesolv.inputs] + [str(s) for s in solubility.inputs]

    print(
        f"# medicine bench: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    print(f"\n## Featurisation throughput ({len(smiles)} molecules)\n")
    print(
        "(disk: a fresh process's cache reading the SQLite store; memory: the same cache again)\n"
    )
    print(f"{'block':<16}{'cold mol/s':>12}{'disk mol/s':>12}{'memory mol/s':>14}{'disk/cold':>11}")
    for block, cold, disk, warm in featurisation(smiles):
        print(f"{block:<16}{cold:>12,.0f}{disk:>12,.0f}{warm:>14,.0f}{disk / cold:>10.1f}x")

    print(
        f"\n## D-MPNN training per fold (FreeSolv, random {args.folds} of 5 folds, "
        f"max {args.max_epochs} epochs, device {dmpnn.default_device()})\n"
    )
    print(
        f"{'fold':<6}{'train':>7}{'epochs':>8}{'fit s':>8}{'s/epoch':>9}{'predict s':>11}{'RMSE':>7}"
    )
    folds = make_split(freesolv, "kfold", folds=5, repeats=1, seed=0).folds[: args.folds]
    fit_times = []
    for fold in folds:
        model = DMPNNModel(max_epochs=args.max_epochs)
        train, test = freesolv.subset(fold.train), freesolv.subset(fold.test)
        start = time.perf_counter()
        model.fit(train, seed=0)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        prediction = model.predict(test).values
        predict_s = time.perf_counter() - start
        assert test.targets is not None
        rmse = float(np.sqrt(np.mean((prediction - test.targets) ** 2)))
        epochs = len(model.training_.train_losses)
        fit_times.append(fit_s)
        print(
            f"{fold.name:<6}{len(train):>7}{epochs:>8}{fit_s:>8.1f}{fit_s / epochs:>9.3f}"
            f"{predict_s:>11.3f}{rmse:>7.3f}"
        )
    print(f"\nmean fit time per fold: {np.mean(fit_times):.1f} s")


if __name__ == "__main__":
    main()
