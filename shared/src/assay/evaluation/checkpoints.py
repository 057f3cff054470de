"""Long training that survives a stop: a unit's fits keep their state on disk.

A unit that trains for hours (hep's 60-epoch ParticleNet-Lite) loses everything when
its machine is stopped, preempted or given back. Inside a unit, the runner opens
`unit_checkpoints(folder)` with a folder named by the unit's run key; each training
loop of the unit (`fit_module`) takes the next file there and saves its whole state
(weights, optimiser, schedule, random generators, losses so far) between epochs, at
most once a minute. When the same unit runs again after a stop, each fit picks up
at the epoch after its last save and ends with the weights an uninterrupted run
would have had, bit for bit, so the result and its run key stay the same.

The folder is removed when the unit ends with a result or an error it would repeat;
it is kept after a time limit or a kill, for the next attempt. Short fits (under a
minute) never write anything. A checkpoint is only valid for the code that wrote
it: after changing a model's code, remove `$ASSAY_HOME/checkpoints`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

CHECKPOINT_EVERY_S = 60.0
"""Seconds of training between two saves of one fit (each epoch's end is a chance)."""


@dataclass
class _UnitCheckpoints:
    folder: Path
    fits: int = 0


_CURRENT: ContextVar[_UnitCheckpoints | None] = ContextVar("assay_checkpoints", default=None)


@contextmanager
def unit_checkpoints(folder: Path) -> Iterator[None]:
    """Fits inside the block keep their checkpoints in `folder` (the unit's own)."""
    token = _CURRENT.set(_UnitCheckpoints(folder))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def next_fit_checkpoint() -> Path | None:
    """The file of the unit's next fit (fits are counted in the order the unit runs
    them, the same on every attempt); None outside a unit."""
    current = _CURRENT.get()
    if current is None:
        return None
    path = current.folder / f"fit-{current.fits}.pt"
    current.fits += 1
    return path


def discard_checkpoints(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
