"""Materials speed figures, measured side by side in one run.

1. EMT relaxations per second on one core: the plugin's path
   (`assay_materials.emt.relax_candidate`: build the decorated supercell, BFGS
   on atoms and cell with FrechetCellFilter, fmax 0.01, record the result)
   against bare ASE on the same cells (the same EMT, filter and optimiser,
   written inline), alternating so that a loaded machine hurts both alike.
   Target ratio (ours / bare) >= 0.8.
2. Featurisation rate: Magpie-style composition statistics (compositions/s)
   on the 2,135 experimental compounds, crystal-graph neighbour lists
   (structures/s) on EMT cells, and the cluster expansion's counts on the same
   cells (each mapped onto its ideal fcc sites first).
3. CHGNet fine-tuning (foundation extra): seconds per epoch on the bundled
   40 EMT structures, the default path (the frozen layers run once per
   structure, each epoch runs the last block and the readout) against the
   whole network each epoch (`trainable_blocks=2`), and the one-off cost of
   the frozen pass. Each epoch's time is the difference between a fit of
   1 + E epochs and a fit of 1 epoch, over E = 30 epochs of the stored path
   and 3 of the whole network (CI: 10 and 1).

Run: `python packages/materials/bench/bench_materials.py [--cells N]`.
Under CI (env CI set) it relaxes 6 cells.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]


def bare_ase(candidate: object) -> float:
    """The same relaxation written with ASE alone: the reference the plugin must keep up with."""
    from ase.build import bulk, make_supercell
    from ase.calculators.emt import EMT
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = make_supercell(
        bulk("Cu", "fcc", a=candidate.lattice_a),  # type: ignore[attr-defined]
        np.array(candidate.supercell),  # type: ignore[attr-defined]
    )
    atoms.set_chemical_symbols(list(candidate.symbols))  # type: ignore[attr-defined]
    atoms.calc = EMT()
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=0.01, steps=1000)
    return float(atoms.get_potential_energy())


def relaxations(n_cells: int, rounds: int) -> tuple[float, float, float]:
    from assay_materials import emt

    candidates = emt.draw_candidates(n_cells, seed=7, min_atoms=4, max_atoms=12)
    ours_s = bare_s = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        ours = [emt.relax_candidate(c)["energy"] for c in candidates]
        ours_s += time.perf_counter() - start
        start = time.perf_counter()
        bare = [bare_ase(c) for c in candidates]
        bare_s += time.perf_counter() - start
        assert np.allclose(ours, bare), "the plugin and bare ASE relaxed to different energies"
    n = n_cells * rounds
    atoms = sum(len(c.symbols) for c in candidates) / n_cells
    return n / ours_s, n / bare_s, atoms


def featurisation(n_structures: int) -> tuple[float, float, float]:
    from assay.data.dataset import Dataset, DatasetMetadata
    from assay_materials import emt
    from assay_materials.cluster_expansion import dataset_counts
    from assay_materials.composition import statistics_features
    from assay_materials.deep import CrystalGraphModel
    from assay_materials.sources import experimental_enthalpies
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    meta = DatasetMetadata(name="bench", version="1", provenance="bench", licence="bench")
    formulas = np.array([f for f, _, _ in experimental_enthalpies()], dtype=object)
    start = time.perf_counter()
    statistics_features(Dataset(inputs=formulas, targets=None, metadata=meta))
    composition_rate = len(formulas) / (time.perf_counter() - start)
    structures = np.empty(n_structures, dtype=object)
    for i, candidate in enumerate(emt.draw_candidates(n_structures, seed=11, max_atoms=12)):
        atoms = emt.build_atoms(candidate)
        structures[i] = Structure(
            Lattice(np.asarray(atoms.cell)),
            atoms.get_chemical_symbols(),
            atoms.get_scaled_positions(),
        )
    start = time.perf_counter()
    CrystalGraphModel().encode(Dataset(inputs=structures, targets=None, metadata=meta))
    graph_rate = n_structures / (time.perf_counter() - start)
    start = time.perf_counter()
    dataset_counts(Dataset(inputs=structures, targets=None, metadata=meta))
    cluster_rate = n_structures / (time.perf_counter() - start)
    return composition_rate, graph_rate, cluster_rate


def finetuning_epochs(epochs: dict[int, int]) -> dict[int, tuple[float, float]]:
    """Seconds per epoch and seconds of a 1-epoch fit, by `trainable_blocks` (1: the stored
    path, 2: the whole network), each timed over `epochs[blocks]` epochs."""
    import gzip
    import json
    from importlib.resources import files

    from assay.data.dataset import Dataset, DatasetMetadata
    from assay.evaluation.models import build_model
    from assay.plugin import process_catalog
    from pymatgen.core.structure import Structure

    path = files("assay_materials") / "examples" / "matbench_emt_example.json.gz"
    with gzip.open(str(path), "rt") as handle:
        rows = json.load(handle)["data"]
    inputs = np.empty(len(rows), dtype=object)
    for i, (structure, _) in enumerate(rows):
        inputs[i] = Structure.from_dict(structure)
    meta = DatasetMetadata(name="bench", version="1", provenance="bench", licence="bench")
    data = Dataset(inputs=inputs, targets=np.array([t for _, t in rows]), metadata=meta)
    models = process_catalog().models

    def fit_seconds(blocks: int, max_epochs: int) -> float:
        params = {"trainable_blocks": blocks, "max_epochs": max_epochs, "patience": 10**6}
        model = build_model("materials.chgnet_finetuned", {**params, "threads": 1}, models)
        start = time.perf_counter()
        model.fit(data, seed=0)
        return time.perf_counter() - start

    fit_seconds(1, 1)  # loads CHGNet and its references once, outside the timings
    times: dict[int, tuple[float, float]] = {}
    for blocks, n in epochs.items():
        one = fit_seconds(blocks, 1)
        more = fit_seconds(blocks, 1 + n)
        times[blocks] = ((more - one) / n, one)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=6 if os.environ.get("CI") else 20)
    parser.add_argument("--rounds", type=int, default=1 if os.environ.get("CI") else 2)
    args = parser.parse_args()
    print(f"materials bench on {platform.processor() or platform.machine()}, one thread")
    with threadpool_limits(limits=1):
        ours, bare, atoms = relaxations(args.cells, args.rounds)
        print(
            f"EMT relaxations/s per core ({args.cells} cells x {args.rounds}, {atoms:.1f} atoms "
            f"on average): assay {ours:.2f}, bare ASE {bare:.2f}, ratio {ours / bare:.2f} "
            "(target >= 0.8)"
        )
        composition_rate, graph_rate, cluster_rate = featurisation(200)
        print(f"composition statistics: {composition_rate:,.0f} compositions/s")
        print(f"crystal-graph neighbour lists (4.2 A): {graph_rate:,.0f} structures/s")
        print(
            f"cluster-expansion counts (mapped onto ideal sites): {cluster_rate:,.0f} structures/s"
        )
        if importlib.util.find_spec("chgnet") is None:
            print("CHGNet fine-tuning: skipped (the foundation extra is not installed)")
            return
        epochs = {1: 10, 2: 1} if os.environ.get("CI") else {1: 30, 2: 3}
        times = finetuning_epochs(epochs)
        (stored, stored_fit), (whole, whole_fit) = times[1], times[2]
        print(
            f"CHGNet fine-tuning, 40 structures: {stored:.3f} s/epoch with the frozen layers' "
            f"output stored, {whole:.3f} s/epoch through the whole network, ratio "
            f"{whole / stored:.1f}; a 1-epoch fit {stored_fit:.2f} s vs {whole_fit:.2f} s "
            "(the stored path's includes its frozen pass)"
        )


if __name__ == "__main__":
    main()
