"""Generation reads Pythia's events in batches: the same jets, bit for bit, as reading
each particle through Pythia's and FastJet's Python objects."""

from __future__ import annotations

from typing import Any

import fastjet
import numpy as np
import pytest
import pythia8mc
from assay_hep.events import PARTICLE_ETA_MAX, EventBatch, Record, Visibility
from assay_hep.generator import (
    JET_R,
    RESONANCE_ID,
    ChunkSpec,
    _is_matched,
    generate_chunk,
    jets_to_columns,
    make_pythia,
)

N_EVENTS = 12


@pytest.mark.parametrize("label", ["Tbqq", "Hbb"])
def test_next_batch_records_match_the_event_methods(label: str) -> None:
    spec = ChunkSpec(label, 4711, 1, 500.0, 1000.0, 2.0, 450.0, 1100.0, 128)
    batched, stepped = make_pythia(spec.settings()), make_pythia(spec.settings())
    record = EventBatch.from_awkward(batched.nextBatch(N_EVENTS, "none"))
    visible = record.visible(Visibility(batched.particleData))
    k = 0
    for ok in record.ok.tolist():
        assert stepped.next() == ok  # the same events, one next() after the other
        if not ok:
            continue
        event = stepped.event
        one = Record(record, int(record.offsets[k]), int(record.offsets[k + 1]))
        k += 1
        assert len(one) == event.size()
        expected_visible = [
            p.isFinal() and p.isVisible() and abs(p.eta()) < PARTICLE_ETA_MAX for p in event
        ]
        np.testing.assert_array_equal(visible[one.start : one.stop], expected_visible)
        known: dict[int, int] = {}  # remembered walks must give what fresh ones give
        for i in range(event.size()):
            particle = event[i]
            assert one.daughter_list(i) == list(particle.daughterList()), i
            assert one.bot_copy_id(i) == particle.iBotCopyId(), i
            assert one.bot_copy_id(i, known) == particle.iBotCopyId(), i
            if particle.pT() > 0:
                assert one.eta_phi(i) == (particle.eta(), particle.phi()), i
        assert one.decay_partons(RESONANCE_ID[label])  # every signal event has its resonance


class _CountingParticleData:
    """Visible: odd ids; counts the questions."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def isVisible(self, pid: int) -> bool:
        self.asked.append(pid)
        return pid % 2 == 1


def test_visibility_table_asks_each_id_once_and_covers_any_id_range() -> None:
    data = _CountingParticleData()
    visibility = Visibility(data)  # type: ignore[arg-type]
    first = np.array([211, -211, 22, 211, 2112], dtype=np.int64)
    np.testing.assert_array_equal(visibility.of(first), first % 2 == 1)
    # a wider range keeps what is known; ids far apart take the per-id path
    wider = np.array([-5_000, 211, 9_000, 22], dtype=np.int64)
    np.testing.assert_array_equal(visibility.of(wider), wider % 2 == 1)
    far = np.array([1, 1_000_000_021, 211, -1_000_000_021], dtype=np.int64)
    np.testing.assert_array_equal(visibility.of(far), far % 2 == 1)
    assert data.asked[:6] == [-211, 22, 211, 2112, -5_000, 9_000]  # each id asked once
    assert visibility.of(np.zeros(0, dtype=np.int64)).shape == (0,)


def _reference_chunk(spec: ChunkSpec) -> dict[str, np.ndarray]:
    """The chunk read particle by particle through Pythia's and FastJet's Python objects,
    from a Pythia that reads its XML files itself."""
    pythia = pythia8mc.Pythia("", False)
    for line in spec.settings():
        assert pythia.readString(line)
    assert pythia.init()
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R)
    resonance = RESONANCE_ID[spec.label]
    jets: list[np.ndarray] = []
    events = 0
    while len(jets) < spec.n_jets:
        events += 1
        if not pythia.next():
            continue
        event = pythia.event
        particles = [
            fastjet.PseudoJet(p.px(), p.py(), p.pz(), p.e())
            for p in event
            if p.isFinal() and p.isVisible() and abs(p.eta()) < PARTICLE_ETA_MAX
        ]
        if not particles:
            continue
        groups, seen = [], set()
        for i in range(event.size()):
            last = event[i].iBotCopyId()
            if event[i].idAbs() != resonance or last in seen:
                continue
            seen.add(last)
            quarks = _reference_quarks(event, last)
            if quarks is not None:
                groups.append([(event[last].eta(), event[last].phi()), *quarks])
        sequence = fastjet.ClusterSequence(particles, definition)  # jets need it alive
        for jet in sequence.inclusive_jets(spec.pt_min):
            if not (spec.pt_min < jet.pt() < spec.pt_max and abs(jet.eta()) < spec.eta_max):
                continue
            if not _is_matched(jet, groups):
                continue
            jets.append(np.array([(c.px(), c.py(), c.pz(), c.e()) for c in jet.constituents()]))
    return jets_to_columns(jets[: spec.n_jets], spec.max_particles, n_events=events)


def _reference_quarks(event: Any, index: int) -> list[tuple[float, float]] | None:
    quarks: list[tuple[float, float]] = []
    for d in event[index].daughterList():
        if event[d].idAbs() == 24:
            w_quarks = _reference_quarks(event, event[d].iBotCopyId())
            if w_quarks is None:
                return None
            quarks += w_quarks
        elif 1 <= event[d].idAbs() <= 5:
            quarks.append((event[d].eta(), event[d].phi()))
    return quarks or None


def test_generated_chunk_is_the_particle_by_particle_chunk_to_the_byte() -> None:
    spec = ChunkSpec("Tbqq", 321, 12, 550.0, 650.0, 2.0, 500.0, 700.0, 128)
    fast, reference = generate_chunk(spec), _reference_chunk(spec)
    assert fast.keys() == reference.keys()
    for name, values in reference.items():
        assert fast[name].dtype == values.dtype, name
        assert fast[name].tobytes() == values.tobytes(), name


def test_flat_buffer_reading_matches_awkward_with_a_failed_event() -> None:
    """The records read straight from nextBatch's buffers equal awkward's own reading,
    also when an event failed (a None entry without a record, or one pointing past a
    record, which takes the general path)."""
    import awkward as ak

    spec = ChunkSpec("QCD", 4711, 1, 500.0, 1000.0, 2.0, 450.0, 1100.0, 128)
    batch = make_pythia(spec.settings()).nextBatch(N_EVENTS, "none")
    index = np.asarray(batch.layout.index).copy()
    index[3] = -1
    with_failure = ak.Array(
        ak.contents.IndexedOptionArray(ak.index.Index64(index), batch.layout.content)
    )
    # As nextBatch lays out a failure: no record for it, the others in order (fast path).
    compact_index = np.array([0, 1, 2, -1, *range(3, N_EVENTS - 1)], dtype=np.int64)
    compact = ak.Array(
        ak.contents.IndexedOptionArray(
            ak.index.Index64(compact_index), batch.layout.content[: N_EVENTS - 1]
        )
    )
    for sample in (batch, with_failure, compact):
        fast, general = EventBatch.from_awkward(sample), EventBatch._from_awkward_arrays(sample)
        for name in EventBatch.__dataclass_fields__:
            ours, theirs = getattr(fast, name), getattr(general, name)
            assert ours.dtype == theirs.dtype, name
            assert np.array_equal(ours, theirs), name
    assert not EventBatch.from_awkward(with_failure).ok[3]
    assert not EventBatch.from_awkward(compact).ok[3]
