"""hep speed figures, measured side by side in one run (run by `nox -s bench`).

1. Generation: one chunk of jets end to end on one core (Pythia init, Pythia
   events in batches, event records, FastJet clustering, truth matching,
   constituents, substructure, writing the npz and ROOT), each stage's share
   of the time, and the event rate against a bare Pythia making the same
   events with `next()` (ratio = bare seconds / end-to-end seconds). CPU
   seconds of the process, so that other jobs on a shared machine do not
   skew the ratio.
2. Reading: our reader (`read_jet_files`: checks, labels, record layout)
   against a bare `uproot` `TTree.arrays()` of the same branches of the same
   file; target ratio (ours / bare throughput) >= 0.8.
3. Training: one epoch of each deep tagger (forward, backward, AdamW step, one
   thread) on length-bucketed batches cut to their longest jet, against the
   same jets in random batches padded to all 128 slots. Constituent counts
   follow the standard top-tagging sample (median 56 for QCD, 72 for top).
4. Precision: one epoch of the core's loop (`fit_module`, length-bucketed
   batches, two threads) in float32 against bfloat16 autocast
   (`precision = "bfloat16"`), for ParticleNet-Lite with k = 7 and k = 16
   and the PFN. The gain depends on the CPU: AMX or AVX512-BF16 units make
   bfloat16 matmuls fast, elsewhere they are emulated.

Under CI=true the samples are small.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import uproot
from assay.evaluation.torch_training import (
    BatchFn,
    TrainConfig,
    cpu_has_native_bfloat16,
    fit_module,
    tensor_batches,
    torch_threads,
)
from assay_hep.chunks import concat_chunks
from assay_hep.deep import PFN, ParticleNetLite, Reflected, length_bucketed_batches
from assay_hep.generator import ChunkSpec, StageClock, generate_chunk, make_pythia
from assay_hep.readers import DEFAULT_STEP, read_jet_files, write_jets_root
from assay_hep.sources import root_columns

CI = os.environ.get("CI", "").lower() == "true"
N_JETS = 250  # the chunk size of the cache: smaller chunks would be all Pythia init
N_READ_JETS = 20_000 if CI else 300_000
N_TRAIN_JETS = 1_000 if CI else 10_000
N_PRECISION_JETS = 500 if CI else 3_000
REPEATS = 3
GENERATION_REPEATS = 1 if CI else 3


def bare_pythia_seconds(spec: ChunkSpec, n_events: int) -> tuple[float, float]:
    """(init, next) seconds of a bare Pythia making the same `n_events` events as the chunk."""
    start = time.process_time()
    pythia = make_pythia(spec.settings())
    init = time.process_time() - start
    start = time.process_time()
    for _ in range(n_events):
        pythia.next()
    return init, time.process_time() - start


def writing_seconds(columns: dict[str, np.ndarray], label: str) -> float:
    """What the cache does with a chunk: the npz of the chunk, then its share of the ROOT file."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.process_time()
        np.savez(Path(tmp) / "chunk.npz", **columns)
        root = root_columns(concat_chunks([columns], len(columns["counts"])), label, ["QCD", label])
        write_jets_root(Path(tmp) / "chunk.root", root)
        return time.process_time() - start


def generation() -> None:
    print(
        f"== generation (one core; a chunk of {N_JETS} jets, as the cache makes them; "
        f"CPU seconds, best of {GENERATION_REPEATS}, alternated with the bare Pythia) =="
    )
    for label in ("Tbqq", "QCD"):
        spec = ChunkSpec(label, 4242, N_JETS, 550.0, 650.0, 2.0, 500.0, 700.0, 128)
        total, init, bare = math.inf, math.inf, math.inf
        for _ in range(GENERATION_REPEATS):
            clock = StageClock()
            start = time.process_time()
            columns = generate_chunk(spec, clock=clock)
            clock.seconds["writing"] = writing_seconds(columns, label)
            seconds = time.process_time() - start + clock.seconds["writing"]
            if seconds < total:
                total, stages = seconds, clock.seconds
            events = int(columns["n_events"][0])
            # The same events from a bare Pythia: its init and its next() calls alone.
            bare_init, bare_next = bare_pythia_seconds(spec, events)
            init, bare = min(init, bare_init), min(bare, bare_next)
        shares = " | ".join(f"{k} {v / total:.0%}" for k, v in stages.items())
        print(
            f"{label:5s} {events} events, {N_JETS / events:.2f} jets/event, {total:.2f} s: {shares}"
        )
        print(
            f"      events/s: bare Pythia next() {events / bare:6.1f} | end to end "
            f"{events / total:6.1f} | ratio {bare / total:.2f} (with Pythia's init per chunk "
            f"counted as bare: {(init + bare) / total:.2f})"
        )


def synthetic_columns(n_jets: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    counts = rng.integers(20, 100, n_jets)
    n = int(counts.sum())
    columns: dict[str, np.ndarray] = {"counts": counts}
    for name in ("px", "py", "pz", "energy", "deta", "dphi"):
        columns[f"part_{name}"] = rng.normal(0, 10, n).astype(np.float32)
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_nparticles", "jet_sdmass"):
        columns[name] = rng.normal(100, 10, n_jets).astype(np.float32)
    for k in range(1, 5):
        columns[f"jet_tau{k}"] = rng.uniform(0, 1, n_jets).astype(np.float32)
    signal = rng.integers(0, 2, n_jets)
    columns["label_QCD"] = (1 - signal).astype(np.int32)
    columns["label_Tbqq"] = signal.astype(np.int32)
    return columns


def best_of(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def reading() -> None:
    print("== reading ==")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "jets.root"
        columns = synthetic_columns(N_READ_JETS)
        write_jets_root(path, columns)
        branches = [name for name in columns if name != "counts"]

        def bare() -> None:
            with uproot.open(path) as handle:
                handle["tree"].arrays(branches, library="ak")

        def bare_iterate() -> None:
            with uproot.open(path) as handle:
                for _ in handle["tree"].iterate(branches, step_size=DEFAULT_STEP, library="ak"):
                    pass

        def ours_one_step() -> None:
            read_jet_files(path, step_size=N_READ_JETS)

        def ours_default() -> None:
            read_jet_files(path)

        t_bare, t_iterate = best_of(bare), best_of(bare_iterate)
        t_one, t_default = best_of(ours_one_step), best_of(ours_default)
        size_mb = path.stat().st_size / 1e6
        print(
            f"{N_READ_JETS} jets, {size_mb:.0f} MB: bare uproot arrays() {N_READ_JETS / t_bare:,.0f} "
            f"jets/s | our reader in one step {N_READ_JETS / t_one:,.0f} jets/s, ratio "
            f"{t_bare / t_one:.2f} (target >= 0.8)"
        )
        print(
            f"in chunks of {DEFAULT_STEP:,} (the default, bounded memory): our reader "
            f"{N_READ_JETS / t_default:,.0f} jets/s, ratio to bare arrays() {t_bare / t_default:.2f}, "
            f"to bare iterate() at the same step {t_iterate / t_default:.2f}"
        )


def epoch_seconds(net: torch.nn.Module, batches: BatchFn) -> float:
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net.train()
    start = time.perf_counter()
    for x, mask, y in batches(np.random.default_rng(0)):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x, mask), y).backward()
        optimizer.step()
    return time.perf_counter() - start


def bench_jets(n_jets: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random constituents with the standard top-tagging sample's counts per class."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n_jets)
    counts = np.clip(rng.normal(np.where(y == 1, 72, 56), 22), 8, 128).astype(int)
    mask = torch.as_tensor(np.arange(128)[None, :] < counts[:, None])
    x = torch.randn(n_jets, 128, 7) * mask.unsqueeze(-1)
    return x, mask, torch.as_tensor(y)


def training() -> None:
    print("== training (one epoch, one thread) ==")
    x, mask, target = bench_jets(N_TRAIN_JETS)
    taggers = {
        "PFN": lambda: PFN(7, 2, (100, 100, 128), (100, 100)),
        "ParticleNet-Lite": lambda: ParticleNetLite(7, 2),
    }
    with torch_threads(1):
        for name, build in taggers.items():
            torch.manual_seed(0)
            padded = epoch_seconds(
                Reflected(build()), tensor_batches(x, mask, target, batch_size=128)
            )
            bucketed = epoch_seconds(
                Reflected(build()),
                length_bucketed_batches(x, mask, target, batch_size=128, min_length=8),
            )
            print(
                f"{name:16s} padded to 128: {N_TRAIN_JETS / padded:7.0f} jets/s | length-bucketed: "
                f"{N_TRAIN_JETS / bucketed:7.0f} jets/s | speed-up {padded / bucketed:.2f}"
            )


def precision() -> None:
    native = {True: "yes", False: "no", None: "unknown"}[cpu_has_native_bfloat16()]
    # The header says whether bfloat16 is emulated; the per-fit notice would repeat it.
    logging.getLogger("assay.evaluation.torch_training").setLevel(logging.ERROR)
    print(
        "== precision (one epoch of fit_module, two threads; torch CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, bfloat16 units: {native}) =="
    )
    x, mask, target = bench_jets(N_PRECISION_JETS)
    taggers = {
        "ParticleNet-Lite k=7": lambda: ParticleNetLite(7, 2, k=7),
        "ParticleNet-Lite k=16": lambda: ParticleNetLite(7, 2, k=16),
        "PFN": lambda: PFN(7, 2, (100, 100, 128), (100, 100)),
    }
    batches = length_bucketed_batches(x, mask, target, batch_size=128, min_length=17)
    for name, build in taggers.items():
        seconds = {"float32": math.inf, "bfloat16": math.inf}
        for dtype in ("float32", "bfloat16", "float32", "bfloat16"):  # alternated, best of two
            config = TrainConfig(max_epochs=1, threads=2, precision=dtype)  # type: ignore[arg-type]
            torch.manual_seed(0)
            net = Reflected(build())
            start = time.perf_counter()
            fit_module(net, batches, torch.nn.functional.cross_entropy, config=config)
            seconds[dtype] = min(seconds[dtype], time.perf_counter() - start)
        print(
            f"{name:22s} float32: {N_PRECISION_JETS / seconds['float32']:6.0f} jets/s | "
            f"bfloat16: {N_PRECISION_JETS / seconds['bfloat16']:6.0f} jets/s | speed-up "
            f"{seconds['float32'] / seconds['bfloat16']:.2f}"
        )


if __name__ == "__main__":
    generation()
    reading()
    training()
    precision()
