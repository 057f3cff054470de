"""Pythia event records as numpy arrays: visible particles and the signal's decay partons.

Pythia's `nextBatch` (pythia8mc >= 8.312) runs `next()` for a batch of events
and hands back their records as one awkward array, without a Python call per
particle. Everything read from a record here gives bit for bit what the
per-particle methods give (`isFinal`, `isVisible`, `eta`, `phi`,
`daughterList`, `iBotCopyId`), so generated jets do not change: the
arithmetic is the same IEEE operations in the same order, and the one
transcendental comparison (|eta| < 3) falls back to Python's `math.log`, the
C library's `log` that Pythia calls, within a hair of the cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import awkward as ak  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

PARTICLE_ETA_MAX = 3.0
"""Particles beyond |eta| = 3 cannot reach a jet with |eta| < 2 and R = 0.8."""
_TINY = 1e-20
"""Pythia's `Particle::TINY`, the floor of pT in its pseudorapidity."""
_RATIO_MAX = math.exp(PARTICLE_ETA_MAX)
_NEAR = 1e-9
"""Relative distance to the |eta| cut within which `math.log` decides."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EventBatch:
    """The records of a batch of events, flat, with per-event offsets; failed events skipped."""

    ok: npt.NDArray[np.bool_]
    """Per generated event: whether `next()` succeeded (failed events have no record)."""
    offsets: IntArray
    """Record k (the k-th successful event) is rows offsets[k]:offsets[k + 1]."""
    id: IntArray
    status: IntArray
    mother1: IntArray
    daughter1: IntArray
    daughter2: IntArray
    px: FloatArray
    py: FloatArray
    pz: FloatArray
    e: FloatArray

    @cached_property
    def int_views(self) -> tuple[memoryview, memoryview, memoryview, memoryview]:
        """id, status, daughter1, daughter2 as memoryviews: one entry is read as a Python
        int at list speed, where indexing the numpy array makes a numpy scalar."""
        return (
            self.id.data,
            self.status.data,
            self.daughter1.data,
            self.daughter2.data,
        )

    @cached_property
    def momentum_views(self) -> tuple[memoryview, memoryview, memoryview]:
        """px, py, pz as memoryviews (an entry is a Python float, the same double)."""
        return self.px.data, self.py.data, self.pz.data

    @classmethod
    def from_awkward(cls, batch: ak.Array) -> EventBatch:
        layout = batch.layout
        if isinstance(layout, ak.contents.IndexedOptionArray):
            # nextBatch's usual layout: the records one after the other in flat buffers,
            # read as they are instead of through awkward's per-field operations.
            ok = np.asarray(layout.index) >= 0
            prt = layout.content["prt"]
            offsets = np.asarray(prt.offsets, dtype=np.int64)
            records = np.asarray(layout.index)[ok]
            if offsets[0] == 0 and np.array_equal(records, np.arange(len(offsets) - 1)):
                return cls._from_buffers(ok, offsets, prt.content)
        return cls._from_awkward_arrays(batch)

    @classmethod
    def _from_buffers(
        cls, ok: npt.NDArray[np.bool_], offsets: IntArray, particles: Any
    ) -> EventBatch:
        n = int(offsets[-1])

        def flat(content: Any, dtype: Any) -> Any:
            return np.asarray(content.data[:n], dtype=dtype)

        momentum = particles["p"]
        return cls(
            ok=ok,
            offsets=offsets,
            id=flat(particles["id"], np.int64),
            status=flat(particles["status"], np.int64),
            mother1=flat(particles["mother1"], np.int64),
            daughter1=flat(particles["daughter1"], np.int64),
            daughter2=flat(particles["daughter2"], np.int64),
            px=flat(momentum["px"], np.float64),
            py=flat(momentum["py"], np.float64),
            pz=flat(momentum["pz"], np.float64),
            e=flat(momentum["e"], np.float64),
        )

    @classmethod
    def _from_awkward_arrays(cls, batch: ak.Array) -> EventBatch:
        ok = ~ak.to_numpy(ak.is_none(batch, axis=0))
        prt = batch[ok].prt
        counts = ak.to_numpy(ak.num(prt)).astype(np.int64)

        def flat(values: ak.Array, dtype: Any) -> Any:
            return np.asarray(ak.to_numpy(ak.flatten(values)), dtype=dtype)

        return cls(
            ok=ok,
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            id=flat(prt.id, np.int64),
            status=flat(prt.status, np.int64),
            mother1=flat(prt.mother1, np.int64),
            daughter1=flat(prt.daughter1, np.int64),
            daughter2=flat(prt.daughter2, np.int64),
            px=flat(prt.p.px, np.float64),
            py=flat(prt.p.py, np.float64),
            pz=flat(prt.p.pz, np.float64),
            e=flat(prt.p.e, np.float64),
        )

    def visible(self, visibility: Visibility) -> npt.NDArray[np.bool_]:
        """Final, visible, |eta| < 3: the particles the jets are clustered from."""
        final = np.flatnonzero(self.status > 0)
        rows = final[visibility.of(self.id[final])]
        # Pythia's |eta| = log((|p| + |pz|) / max(TINY, pT)); the ratio is exact in numpy
        px, py, pz = self.px[rows], self.py[rows], self.pz[rows]
        pt = np.sqrt(px * px + py * py)
        p_abs = np.sqrt(px * px + py * py + pz * pz)
        ratio = (p_abs + np.abs(pz)) / np.maximum(_TINY, pt)
        inside = ratio < _RATIO_MAX
        for i in np.flatnonzero(np.abs(ratio - _RATIO_MAX) < _NEAR * _RATIO_MAX):
            inside[i] = math.log(float(ratio[i])) < PARTICLE_ETA_MAX
        keep = np.zeros(len(self.status), dtype=np.bool_)
        keep[rows[inside]] = True
        return keep


class Visibility:
    """`ParticleData::isVisible` per particle id, asked once per id and kept in a table
    indexed by id, so that a batch's particles are looked up in one numpy gather."""

    _UNKNOWN, _VISIBLE, _INVISIBLE = 0, 1, 2
    MAX_SPAN = 1 << 22
    """Ids further apart than this (exotic codes) are looked up one distinct id at a time."""

    def __init__(self, particle_data: Any) -> None:
        self._particle_data = particle_data
        self._lowest = 0
        self._table = np.zeros(0, dtype=np.int8)

    def of(self, ids: IntArray) -> npt.NDArray[np.bool_]:
        """Whether each of `ids` is visible."""
        if len(ids) == 0:
            return np.zeros(0, dtype=np.bool_)
        low, high = int(ids.min()), int(ids.max())
        if high - low >= self.MAX_SPAN:
            distinct = np.unique(ids)
            flags = np.array([self._is_visible(pid) for pid in distinct.tolist()], dtype=np.bool_)
            return flags[np.searchsorted(distinct, ids)]
        self._cover(low, high)
        codes = self._table[ids - self._lowest]
        unknown = codes == self._UNKNOWN
        if unknown.any():
            for pid in np.unique(ids[unknown]).tolist():
                visible = self._is_visible(pid)
                self._table[pid - self._lowest] = self._VISIBLE if visible else self._INVISIBLE
            codes = self._table[ids - self._lowest]
        visible_flags: npt.NDArray[np.bool_] = codes == self._VISIBLE
        return visible_flags

    def _is_visible(self, pid: int) -> bool:
        return bool(self._particle_data.isVisible(pid))

    def _cover(self, low: int, high: int) -> None:
        """Grow the table to hold ids low..high (what it knows is kept)."""
        size = len(self._table)
        if size and self._lowest <= low and high < self._lowest + size:
            return
        lowest = min(low, self._lowest) if size else low
        highest = max(high, self._lowest + size - 1) if size else high
        if highest - lowest >= self.MAX_SPAN:  # keep the table small: start again on this range
            lowest, highest, size = low, high, 0
        table = np.zeros(highest - lowest + 1, dtype=np.int8)
        if size:
            table[self._lowest - lowest : self._lowest - lowest + size] = self._table
        self._lowest, self._table = lowest, table


@dataclass(frozen=True)
class Record:
    """One event's record (a view into an `EventBatch`), indexed like `pythia.event`."""

    batch: EventBatch
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start

    @cached_property
    def _lists(self) -> tuple[memoryview, memoryview, memoryview, memoryview]:
        """id, status, daughter1, daughter2 of this event, indexed like lists (an item is a
        Python int) without converting the record: a walk reads a few dozen of its entries."""
        rows = slice(self.start, self.stop)
        return tuple(view[rows] for view in self.batch.int_views)  # type: ignore[return-value]

    def daughter_list(self, i: int) -> list[int]:
        """`Particle::daughterList()`."""
        _, status, daughter1, daughter2 = self._lists
        d1, d2 = daughter1[i], daughter2[i]
        if d1 == 0 and d2 == 0:
            out: list[int] = []
        elif d2 == 0 or d2 == d1:
            out = [d1]
        elif d2 > d1:
            out = list(range(d1, d2 + 1))
        else:
            out = [d2, d1]
        if abs(status[i]) in (12, 13):  # beams: also what they initiate
            mothers = self.batch.mother1[self.start : self.stop]
            out += [j for j in np.flatnonzero(mothers == i).tolist() if j > i and j not in out]
        return out

    def bot_copy_id(self, i: int, known: dict[int, int] | None = None) -> int:
        """`Particle::iBotCopyId()`: down through daughters of the same id while unambiguous.

        `known` remembers the answers of the entries walked through: a walk from
        any of them goes on exactly as this one (same id, same entries).
        """
        ids = self._lists[0]
        pid = ids[i]
        walked = [i]
        current = i
        while known is None or current not in known:
            following = 0
            for d in self.daughter_list(current):
                if ids[d] == pid:
                    if following != 0:
                        following = -1  # two copies of the same id: ambiguous, stop here
                        break
                    following = d
            if following <= 0:
                break
            current = following
            walked.append(current)
        last = known[current] if known is not None and current in known else current
        if known is not None:
            known.update(dict.fromkeys(walked, last))
        return last

    def eta_phi(self, i: int) -> tuple[float, float]:
        """`Particle::eta()`, `Particle::phi()` with Pythia's operations in Pythia's order."""
        k = self.start + i
        px, py, pz = self.batch.momentum_views
        x, y, z = px[k], py[k], pz[k]
        p_abs = math.sqrt(x * x + y * y + z * z)
        pt = math.sqrt(x * x + y * y)
        temp = math.log((p_abs + abs(z)) / max(_TINY, pt))
        return (temp if z > 0 else -temp), math.atan2(y, x)

    def decay_partons(self, resonance: int) -> list[list[tuple[float, float]]]:
        """Per decaying resonance: the (eta, phi) of it (last copy) and of its decay quarks."""
        ids = self.batch.id[self.start : self.stop]
        groups: list[list[tuple[float, float]]] = []
        seen: set[int] = set()
        known: dict[int, int] = {}
        for i in np.flatnonzero(np.abs(ids) == resonance).tolist():
            last = known[i] if i in known else self.bot_copy_id(i, known)  # a copy walked
            if last in seen:
                continue
            seen.add(last)
            products = self._final_quarks(last)
            if products is not None:
                groups.append([self.eta_phi(last), *products])
        return groups

    def _final_quarks(self, index: int) -> list[tuple[float, float]] | None:
        """Decay quarks of a resonance, following a top's W one step down; None if leptonic."""
        quarks: list[tuple[float, float]] = []
        for d in self.daughter_list(index):
            pid = abs(self._lists[0][d])
            if pid == 24:  # t -> b W: the W's own decay products
                w_quarks = self._final_quarks(self.bot_copy_id(d))
                if w_quarks is None:
                    return None
                quarks += w_quarks
            elif 1 <= pid <= 5:
                quarks.append(self.eta_phi(d))
        return quarks or None
