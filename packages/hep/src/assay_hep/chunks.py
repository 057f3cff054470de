"""Seeded, resumable, parallel generation of jet chunks.

A dataset is made of chunks of `chunk_jets` jets, one Pythia seed each.
Seeds are disjoint by construction across classes, splits (train, valid,
test) and chunks. Each finished chunk is kept under
`ASSAY_HOME/hep/chunks/`, in one folder per Pythia8 and FastJet version
(written to a temporary name, then renamed), so an
interrupted generation resumes where it stopped, and the quick size (the
first chunks of every split) is reused by the standard size and by the
tests. Chunks run on local processes (`ASSAY_HEP_WORKERS`, default: every
core) with a progress bar.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import assay_home, progress_bar, stable_hash

from assay_hep.generator import PROCESSES, ChunkSpec, generate_chunk, physics_versions

CHUNK_FORMAT = "1"
SPLITS = ("train", "valid", "test")
MAX_CHUNKS = 10_000
MAX_BASE_SEED = 6_000
"""Pythia seeds stop at 900,000,000: 6,000 x 5 classes x 3 splits x 10,000 chunks fits."""

Columns = dict[str, npt.NDArray[Any]]


def chunk_seed(base_seed: int, label: str, split: str, index: int) -> int:
    """A Pythia seed unique to (base seed, class, split, chunk index)."""
    if not 0 <= base_seed < MAX_BASE_SEED or not 0 <= index < MAX_CHUNKS:
        raise ValueError(f"seed {base_seed} or chunk {index} out of range")
    class_index = list(PROCESSES).index(label)
    block = (base_seed * len(PROCESSES) + class_index) * len(SPLITS) + SPLITS.index(split)
    return 1 + block * MAX_CHUNKS + index


def chunk_dir() -> Path:
    """One folder per Pythia8 and FastJet version: another version makes other jets."""
    versions = "_".join(f"{name}-{version}" for name, version in physics_versions().items())
    return assay_home() / "hep" / "chunks" / f"v{CHUNK_FORMAT}" / versions


def chunk_path(spec: ChunkSpec) -> Path:
    return chunk_dir() / f"{spec.label}-{stable_hash(spec.as_dict())[:20]}.npz"


def _load(path: Path) -> Columns | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError):
        return None  # unreadable leftovers are regenerated


def _save(path: Path, columns: Columns) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        save: Any = np.savez  # numpy's stub takes **kwds as bool
        save(tmp, **columns)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _generate_and_store(spec: ChunkSpec) -> Columns:
    columns = generate_chunk(spec)
    _save(chunk_path(spec), columns)
    return columns


def default_workers() -> int:
    return max(1, int(os.environ.get("ASSAY_HEP_WORKERS", os.cpu_count() or 1)))


def ensure_chunks(specs: Sequence[ChunkSpec], *, workers: int | None = None) -> list[Columns]:
    """The columns of every chunk, generating (in parallel) those not yet on disk."""
    found: dict[int, Columns] = {}
    for i, spec in enumerate(specs):
        cached = _load(chunk_path(spec)) if chunk_path(spec).is_file() else None
        if cached is not None:
            found[i] = cached
    missing = [i for i in range(len(specs)) if i not in found]
    if missing:
        workers = min(workers or default_workers(), len(missing))
        # Its own console (the default): the CLI may already show a spinner on another.
        with progress_bar() as progress:
            task = progress.add_task(f"Pythia8: {len(missing)} chunks of jets", total=len(missing))
            if workers == 1:
                for i in missing:
                    found[i] = _generate_and_store(specs[i])
                    progress.advance(task)
            else:
                # fork where there is one: workers need nothing but the chunk spec, and
                # spawn would re-run a user's unguarded __main__ script.
                methods = multiprocessing.get_all_start_methods()
                context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
                with ProcessPoolExecutor(workers, mp_context=context) as pool:
                    futures = {pool.submit(_generate_and_store, specs[i]): i for i in missing}
                    for future in as_completed(futures):
                        found[futures[future]] = future.result()
                        progress.advance(task)
    return [found[i] for i in range(len(specs))]


def concat_chunks(chunks: Sequence[Columns], n_jets: int) -> Columns:
    """The first `n_jets` jets of the chunks, in order, as one set of columns."""
    jet_keys = [k for k in chunks[0] if k not in {"n_events"} and not k.startswith("part_")]
    part_keys = [k for k in chunks[0] if k.startswith("part_")]
    out: Columns = {k: np.concatenate([c[k] for c in chunks])[:n_jets] for k in jet_keys}
    n_particles = int(out["counts"].sum())
    out.update({k: np.concatenate([c[k] for c in chunks])[:n_particles] for k in part_keys})
    out["n_events"] = np.array([int(sum(int(c["n_events"][0]) for c in chunks))])
    return out
