"""Tiny jet-file fixtures made here: JetClass-layout ROOT columns and TopLandscape HDF5."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

Columns = dict[str, npt.NDArray[Any]]


def random_jets(n_jets: int, seed: int = 0, labels: tuple[str, ...] = ("QCD", "Tbqq")) -> Columns:
    """Columns in the layout `write_jets_root` takes: counts, flat part_*, jet_*, label_*."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 40, n_jets)
    n = int(counts.sum())
    pt = rng.exponential(20.0, n) + 0.5
    eta = rng.normal(0.0, 0.3, n)
    phi = rng.normal(0.0, 0.3, n)
    columns: Columns = {"counts": counts.astype(np.int64)}
    columns["part_px"] = (pt * np.cos(phi)).astype(np.float32)
    columns["part_py"] = (pt * np.sin(phi)).astype(np.float32)
    columns["part_pz"] = (pt * np.sinh(eta)).astype(np.float32)
    columns["part_energy"] = (pt * np.cosh(eta)).astype(np.float32)
    columns["part_deta"] = eta.astype(np.float32)
    columns["part_dphi"] = phi.astype(np.float32)
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_sdmass"):
        columns[name] = rng.normal(100.0, 10.0, n_jets).astype(np.float32)
    columns["jet_nparticles"] = counts.astype(np.float32)
    for k in range(1, 5):
        columns[f"jet_tau{k}"] = rng.uniform(0.0, 1.0, n_jets).astype(np.float32)
    which = rng.integers(0, len(labels), n_jets)
    for k, label in enumerate(labels):
        columns[f"label_{label}"] = (which == k).astype(np.int32)
    return columns


def write_toplandscape(
    path: Path, n_jets: int, seed: int = 0, n_particles: int = 200, drop: str | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """A pandas "fixed"-format table as TopLandscape ships it: E_i, PX_i, PY_i, PZ_i, is_signal_new.

    Returns the (n, n_particles, 4) E/PX/PY/PZ grid (zero-padded) and the labels.
    """
    rng = np.random.default_rng(seed)
    grid = np.zeros((n_jets, n_particles, 4))
    counts = rng.integers(3, min(30, n_particles), n_jets)
    for i, c in enumerate(counts):
        pt = np.sort(rng.exponential(30.0, c) + 1.0)[::-1]
        eta = rng.normal(0.5, 0.3, c)
        phi = rng.normal(1.0, 0.3, c)
        grid[i, :c] = np.stack(
            [pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=1
        )
    labels = rng.integers(0, 2, n_jets)
    names = [f"{p}_{i}" for i in range(n_particles) for p in ("E", "PX", "PY", "PZ")]
    values = grid.reshape(n_jets, -1)
    names += ["truthE", "ttv"]
    values = np.concatenate([values, np.zeros((n_jets, 2))], axis=1)
    keep = [j for j, name in enumerate(names) if name != drop]
    with h5py.File(path, "w") as handle:
        table = handle.create_group("table")
        table["axis0"] = np.array([n.encode() for n in names] + [b"is_signal_new"])
        table["axis1"] = np.arange(n_jets)
        table["block0_items"] = np.array([names[j].encode() for j in keep])
        table["block0_values"] = values[:, keep]
        if drop != "is_signal_new":
            table["block1_items"] = np.array([b"is_signal_new"])
            table["block1_values"] = labels.reshape(-1, 1).astype(np.int64)
    return grid, labels.astype(np.int64)
