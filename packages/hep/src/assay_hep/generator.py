"""Jets from first principles: Pythia8 events at 14 TeV clustered with FastJet.

The recipe follows the Top Quark Tagging Reference Dataset (Kasieczka et al.
2019) without its Delphes detector step: no multi-parton interactions, no
pile-up, anti-kT R = 0.8 on the visible final-state particles (neutrinos
dropped). A signal jet must contain its decay partons (and the decaying
particle itself) within dR < 0.8 of the jet axis; other jets of signal
events are discarded. One call of `generate_chunk` makes a fixed number of
jets of one class from one Pythia seed; it is pure given its `ChunkSpec`.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import asdict, dataclass
from typing import Any

import fastjet  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import pythia8mc  # type: ignore[import-not-found]

from assay_hep.substructure import banner_to_stderr, substructure_table


def physics_versions() -> dict[str, str]:
    """Versions of the two programs that decide what a chunk of jets contains."""
    # pythia8mc has no __version__; its distribution metadata has the pin.
    return {
        "pythia8mc": importlib.metadata.version("pythia8mc"),
        "fastjet": str(fastjet.__version__),
    }


JET_R = 0.8
MATCH_DR = 0.8
PARTICLE_ETA_MAX = 3.0
"""Particles beyond |eta| = 3 cannot reach a jet with |eta| < 2 and R = 0.8."""
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


def make_pythia(settings: list[str]) -> Any:
    """An initialised Pythia with `settings`, silent."""
    pythia = pythia8mc.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected the setting '{line}'")
    if not pythia.init():
        raise RuntimeError("Pythia failed to initialise")
    return pythia


def visible_particles(event: Any) -> npt.NDArray[np.float64]:
    """(px, py, pz, E) of the visible final-state particles within |eta| < 3."""
    rows = [
        (p.px(), p.py(), p.pz(), p.e())
        for p in event
        if p.isFinal() and p.isVisible() and abs(p.eta()) < PARTICLE_ETA_MAX
    ]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def decay_partons(event: Any, label: str) -> list[list[tuple[float, float]]]:
    """Per decaying resonance of the signal: the (eta, phi) of it and its decay quarks."""
    resonance = RESONANCE_ID.get(label)
    if resonance is None:
        return []
    groups: list[list[tuple[float, float]]] = []
    seen: set[int] = set()
    for i in range(event.size()):
        if event[i].idAbs() != resonance:
            continue
        last = event[i].iBotCopyId()
        if last in seen:
            continue
        seen.add(last)
        products = _final_quarks(event, last)
        if products is None:
            continue
        mother = event[last]
        groups.append([(mother.eta(), mother.phi()), *products])
    return groups


def _final_quarks(event: Any, index: int) -> list[tuple[float, float]] | None:
    """Decay quarks of a resonance, following a top's W one step down; None if leptonic."""
    quarks: list[tuple[float, float]] = []
    for d in event[index].daughterList():
        daughter = event[d]
        if daughter.idAbs() == 24:  # t -> b W: the W's own decay products
            w_quarks = _final_quarks(event, daughter.iBotCopyId())
            if w_quarks is None:
                return None
            quarks += w_quarks
        elif 1 <= daughter.idAbs() <= 5:
            quarks.append((daughter.eta(), daughter.phi()))
    return quarks or None


def _delta_r(eta1: float, phi1: float, eta2: float, phi2: float) -> float:
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return float(np.hypot(eta1 - eta2, dphi))


def _is_matched(jet: Any, groups: list[list[tuple[float, float]]]) -> bool:
    eta, phi = jet.eta(), jet.phi_std()
    return any(all(_delta_r(eta, phi, e, p) < MATCH_DR for e, p in group) for group in groups)


def _selected_jets(event: Any, spec: ChunkSpec, definition: Any) -> list[npt.NDArray[np.float64]]:
    particles = visible_particles(event)
    if len(particles) == 0:
        return []
    pseudojets = [fastjet.PseudoJet(*map(float, row)) for row in particles]
    sequence = fastjet.ClusterSequence(pseudojets, definition)
    groups = decay_partons(event, spec.label)
    out = []
    for jet in sequence.inclusive_jets(spec.pt_min):
        if not (spec.pt_min < jet.pt() < spec.pt_max and abs(jet.eta()) < spec.eta_max):
            continue
        if spec.label in RESONANCE_ID and not _is_matched(jet, groups):
            continue
        constituents = [(c.px(), c.py(), c.pz(), c.e()) for c in jet.constituents()]
        out.append(np.asarray(constituents, dtype=np.float64))
    return out


def generate_chunk(spec: ChunkSpec) -> dict[str, npt.NDArray[Any]]:
    """`spec.n_jets` jets of class `spec.label`: flat constituent arrays plus jet columns."""
    pythia = make_pythia(spec.settings())
    banner_to_stderr()
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R)
    jets: list[npt.NDArray[np.float64]] = []
    events = 0
    while len(jets) < spec.n_jets:
        events += 1
        if events > MAX_EVENTS_PER_JET * spec.n_jets:
            raise RuntimeError(f"chunk {spec}: {events} events gave only {len(jets)} jets")
        if not pythia.next():
            continue
        jets += _selected_jets(pythia.event, spec, definition)
    jets = jets[: spec.n_jets]
    return jets_to_columns(jets, spec.max_particles, n_events=events)


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
