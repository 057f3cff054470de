"""The batched event records give what Pythia's per-particle methods give, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from assay_hep.events import PARTICLE_ETA_MAX, EventBatch, Record
from assay_hep.generator import RESONANCE_ID, ChunkSpec, make_pythia

N_EVENTS = 12


@pytest.mark.parametrize("label", ["Tbqq", "Hbb"])
def test_next_batch_records_match_the_event_methods(label: str) -> None:
    spec = ChunkSpec(label, 4711, 1, 500.0, 1000.0, 2.0, 450.0, 1100.0, 128)
    batched, stepped = make_pythia(spec.settings()), make_pythia(spec.settings())
    record = EventBatch.from_awkward(batched.nextBatch(N_EVENTS, "none"))
    visible = record.visible({}, batched.particleData)
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
