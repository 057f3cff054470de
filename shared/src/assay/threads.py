"""The thread budget of a unit: cores / workers for BLAS, OpenMP and torch.

Two workers that each start a BLAS or torch pool as wide as the machine share
its cores with each other's spinning threads; on 2 cores we measured ASE
relaxations, GBLUP solves and CHGNet 8-20x slower that way. The executor
gives each unit its share, and every pool in the unit's process honours it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

_BUDGET: int | None = None


def available_cores() -> int:
    """Cores this process may run on (its affinity where the OS reports one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def budget_for(workers: int) -> int:
    return max(1, available_cores() // max(1, workers))


def current_budget() -> int | None:
    """The budget of the unit running now (None outside one, or when unlimited)."""
    return _BUDGET


@contextlib.contextmanager
def limited_threads(threads: int | None) -> Iterator[None]:
    """Hold BLAS/OpenMP pools (threadpoolctl) and torch to `threads` for a block; None
    leaves them alone. torch models built on `assay.evaluation.torch_training` read the budget too,
    so a torch imported inside the block is held as well."""
    global _BUDGET
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    previous, _BUDGET = _BUDGET, threads
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        _BUDGET = previous
        if torch is not None and torch_before is not None:
            torch.set_num_threads(torch_before)
