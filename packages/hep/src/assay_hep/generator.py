"""Jets from first principles: Pythia8 events at 14 TeV clustered with FastJet.

The recipe follows the Top Quark Tagging Reference Dataset (Kasieczka et al.
2019) without its Delphes detector step: no multi-parton interactions, no
pile-up, anti-kT R = 0.8 on the visible final-state particles (neutrinos
dropped). A signal jet must contain its decay partons (and the decaying
particle itself) within dR < 0.8 of the jet axis; other jets of signal
events are discarded. One call of `generate_chunk` makes a fixed number of
jets of one class from one Pythia seed; it is pure given its `ChunkSpec`.

Speed without changing a jet: events come from Pythia in batches as numpy
records (`assay_hep.events`), particles go to FastJet as bare SWIG objects,
and the order of every sum is kept, so the jets are the same bytes as when
each particle was read through Pythia's Python methods.
"""

from __future__ import annotations

import importlib.metadata
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import fastjet  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import pythia8mc  # type: ignore[import-not-found]

from assay_hep.events import EventBatch, Record, Visibility
from assay_hep.substructure import new_pseudojet, silence_banner, substructure_table

# fastjet's SWIG layer (pinned 3.5.2.0): the C++ cluster sequence without the proxy class.
_swig_cluster_sequence = fastjet._swig.ClusterSequence
_constituents = fastjet._swig._fastjet_swig.PseudoJet_constituents
_cluster_hist_index = fastjet._swig._fastjet_swig.PseudoJet_cluster_hist_index


def physics_versions() -> dict[str, str]:
    """Versions of the two programs that decide what a chunk of jets contains."""
    # pythia8mc has no __version__; its distribution metadata has the pin.
    return {
        "pythia8mc": importlib.metadata.version("pythia8mc"),
        "fastjet": str(fastjet.__version__),
    }


JET_R = 0.8
MATCH_DR = 0.8
EVENT_BATCH_FIRST = 32
EVENT_BATCH_MIN = 4
EVENT_BATCH_MAX = 200
"""Events per `nextBatch`: enough to spread its fixed cost, few enough to waste little."""
ESTIMATE_SHARE = 0.8
"""Share of the missing events (as the jets per event so far estimate them) asked for at once.

A surplus event costs Pythia a whole event and is dropped; one batch more costs about as
much as one event (`nextBatch`'s fixed cost and ours). An estimate a little short is cheaper
on average: replayed on the jets per event of 40 chunks of 250 jets per class, it roughly
halved Pythia's work beyond the events kept, against the full estimate with at least 8
events a batch (a single chunk can go either way).
"""
MAX_EVENTS_PER_JET = 200
"""A chunk that needs more events than this per jet has impossible cuts: stop, do not hang."""

_COMMON = (
    "Beams:eCM = 14000.",
    "PartonLevel:MPI = off",
    "Print:quiet = on",
    "Random:setSeed = on",
)
_HADRONIC = "1 2 3 4 5"

PROCESSES: dict[str, tuple[str, ...]] = {
    "QCD": ("HardQCD:all = on",),
    "Tbqq": (
        "Top:gg2ttbar = on",
        "Top:qqbar2ttbar = on",
        "24:onMode = off",
        f"24:onIfAny = {_HADRONIC}",
    ),
    "Wqq": (
        "WeakBosonAndParton:qqbar2Wg = on",
        "WeakBosonAndParton:qg2Wq = on",
        "24:onMode = off",
        f"24:onIfAny = {_HADRONIC}",
    ),
    "Zqq": (
        "WeakBosonAndParton:qqbar2gmZg = on",
        "WeakBosonAndParton:qg2gmZq = on",
        "WeakZ0:gmZmode = 2",
        "23:onMode = off",
        f"23:onIfAny = {_HADRONIC}",
    ),
    "Hbb": (
        "HiggsSM:gg2Hg(l:t) = on",
        "HiggsSM:qg2Hq(l:t) = on",
        "HiggsSM:qqbar2Hg(l:t) = on",
        "25:onMode = off",
        "25:onIfMatch = 5 -5",
    ),
}
"""Pythia settings per jet class (JetClass label names)."""

RESONANCE_ID = {"Tbqq": 6, "Wqq": 24, "Zqq": 23, "Hbb": 25}
PARTICLE_FIELDS = ("px", "py", "pz", "energy")


@dataclass(frozen=True)
class ChunkSpec:
    """Everything that determines one chunk of jets."""

    label: str
    seed: int
    n_jets: int
    pt_min: float
    pt_max: float
    eta_max: float
    pthat_min: float
    pthat_max: float
    max_particles: int

    def settings(self) -> list[str]:
        return [
            *_COMMON,
            *PROCESSES[self.label],
            f"Random:seed = {self.seed}",
            f"PhaseSpace:pTHatMin = {self.pthat_min}",
            f"PhaseSpace:pTHatMax = {self.pthat_max}",
        ]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_PRISTINE: dict[str, Any] = {}
"""One Pythia per process, never changed, whose settings and particle data new ones copy."""


def make_pythia(settings: list[str]) -> Any:
    """An initialised Pythia with `settings`, silent.

    It starts from copies of a pristine Pythia's settings and particle data
    (Pythia's constructor for many instances), not from its XML files again:
    the same tables, read once per process instead of once per chunk.
    """
    if "pythia" not in _PRISTINE:
        _PRISTINE["pythia"] = pythia8mc.Pythia("", False)
    pristine = _PRISTINE["pythia"]
    pythia = pythia8mc.Pythia(pristine.settings, pristine.particleData, False)
    for line in settings:
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected the setting '{line}'")
    if not pythia.init():
        raise RuntimeError("Pythia failed to initialise")
    return pythia


def _delta_r(eta1: float, phi1: float, eta2: float, phi2: float) -> float:
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return float(np.hypot(eta1 - eta2, dphi))


def _is_matched(jet: Any, groups: list[list[tuple[float, float]]]) -> bool:
    eta, phi = jet.eta(), jet.phi_std()
    return any(all(_delta_r(eta, phi, e, p) < MATCH_DR for e, p in group) for group in groups)


class StageClock:
    """CPU seconds of this process per stage of generation (the bench prints the shares).

    CPU time, not wall time: on a shared machine other jobs do not count.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stage = ""
        self._start = 0.0

    def start(self, stage: str) -> None:
        """Close the running stage and start `stage`."""
        now = time.process_time()
        if self._stage:
            self.seconds[self._stage] = self.seconds.get(self._stage, 0.0) + now - self._start
        self._stage, self._start = stage, now

    def stop(self) -> None:
        self.start("")


def _selected_jets(
    record: Record,
    particles: npt.NDArray[np.float64],
    pseudojets: list[Any],
    spec: ChunkSpec,
    definition: Any,
    clock: StageClock,
) -> list[npt.NDArray[np.float64]]:
    """The event's jets that pass the cuts and, for a signal, contain the decay partons.

    `pseudojets` are the event's `particles` as FastJet inputs, in the same order.
    """
    if len(particles) == 0:
        return []
    clock.start("clustering")
    sequence = _swig_cluster_sequence(pseudojets, definition)
    resonance = RESONANCE_ID.get(spec.label)
    groups: list[list[tuple[float, float]]] | None = None
    out = []
    for jet in sequence.inclusive_jets(spec.pt_min):
        clock.start("clustering")
        if not (spec.pt_min < jet.pt() < spec.pt_max and abs(jet.eta()) < spec.eta_max):
            continue
        if resonance is not None:
            clock.start("truth matching")
            if groups is None:
                groups = record.decay_partons(resonance)
            if not _is_matched(jet, groups):
                continue
        clock.start("constituents")
        # An input particle's history index is its position in the input: one call per
        # constituent instead of four, and the same doubles as its px(), py(), pz(), e().
        rows = list(map(_cluster_hist_index, _constituents(jet)))
        out.append(particles[rows])
    return out


def _batch_size(missing: int, jets: int, events: int, allowed: int) -> int:
    """Events to ask Pythia for next: a share of what the jets per event so far say is missing.

    Surplus events of the last batch change nothing (the jets are the same) but cost
    Pythia's time; a batch too few costs one more call (`ESTIMATE_SHARE`).
    """
    wanted = math.ceil(ESTIMATE_SHARE * missing * events / jets) if jets else EVENT_BATCH_FIRST
    return max(1, min(EVENT_BATCH_MAX, max(EVENT_BATCH_MIN, wanted), allowed))


def generate_chunk(
    spec: ChunkSpec, *, clock: StageClock | None = None
) -> dict[str, npt.NDArray[Any]]:
    """`spec.n_jets` jets of class `spec.label`: flat constituent arrays plus jet columns.

    The events are the same as one `pythia.next()` after the other: `nextBatch`
    calls it, and the jets of the surplus events of the last batch are dropped.
    """
    clock = clock or StageClock()
    clock.start("pythia init")
    pythia = make_pythia(spec.settings())
    silence_banner()
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R)
    visibility = Visibility(pythia.particleData)
    jets: list[npt.NDArray[np.float64]] = []
    events = 0
    limit = MAX_EVENTS_PER_JET * spec.n_jets
    while len(jets) < spec.n_jets:
        clock.start("pythia events")
        size = _batch_size(spec.n_jets - len(jets), len(jets), events, limit + 1 - events)
        batch = pythia.nextBatch(size, "none")  # "none": a failed event is a None entry
        clock.start("event record")
        record = EventBatch.from_awkward(batch)
        # The visible particles of the whole batch, record after record: event k's are
        # rows bounds[k]:bounds[k + 1], made into FastJet inputs once per batch.
        kept = np.flatnonzero(record.visible(visibility))
        momenta = (record.px[kept], record.py[kept], record.pz[kept], record.e[kept])
        particles = np.stack(momenta, axis=1)
        bounds = np.searchsorted(kept, record.offsets).tolist()
        starts = record.offsets.tolist()
        # Bare SWIG PseudoJets: the Python proxy class costs 2 us per particle; same C++
        # object. map over the four columns: no Python frame or argument tuple per particle.
        pseudojets = list(map(new_pseudojet, *(column.tolist() for column in momenta)))
        k = 0
        for ok in record.ok.tolist():
            events += 1
            if events > limit:
                raise RuntimeError(f"chunk {spec}: {events} events gave only {len(jets)} jets")
            if not ok:
                continue
            low, high = bounds[k], bounds[k + 1]
            jets += _selected_jets(
                Record(record, starts[k], starts[k + 1]),
                particles[low:high],
                pseudojets[low:high],
                spec,
                definition,
                clock,
            )
            k += 1
            if len(jets) >= spec.n_jets:
                break
    jets = jets[: spec.n_jets]
    clock.start("substructure")
    columns = jets_to_columns(jets, spec.max_particles, n_events=events)
    clock.stop()
    return columns


def jets_to_columns(
    jets: list[npt.NDArray[np.float64]], max_particles: int, *, n_events: int = 0
) -> dict[str, npt.NDArray[Any]]:
    """Constituents sorted by pT and cut to `max_particles`; substructure from all of them."""
    table = substructure_table(jets)
    kept = []
    for p4 in jets:
        order = np.argsort(-np.hypot(p4[:, 0], p4[:, 1]), kind="stable")
        kept.append(p4[order[:max_particles]])
    flat = np.concatenate(kept) if kept else np.zeros((0, 4))
    columns: dict[str, npt.NDArray[Any]] = {
        "counts": np.array([len(p) for p in kept], dtype=np.int64),
        "n_all_particles": np.array([len(p) for p in jets], dtype=np.int64),
        "n_events": np.array([n_events], dtype=np.int64),
    }
    for k, name in enumerate(PARTICLE_FIELDS):
        columns[f"part_{name}"] = flat[:, k]
    columns["jet_p4"] = np.array([p4.sum(axis=0) for p4 in jets]).reshape(-1, 4)
    columns.update(table)
    return columns
