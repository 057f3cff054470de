"""Physics validation: the jets' mass peaks sit at the top and W masses.

Each check uses one chunk (250 jets) of the scenarios' own generator
settings; the conformance tests generate the same chunks first, so in a full
test run they come from the chunk cache. Tolerances: the peak estimator's
statistical error with 250 jets is about 1 GeV; at particle level the jet
mass is shifted by a few GeV by radiation leaving the cone (down) and
initial-state radiation and the underlying event entering it (up; the
ungroomed W-jet mass sits about 2 GeV above m_W at pT ~ 700 GeV). We allow
5 % of the mass: 8 GeV for the top and 5 GeV for the W, and the groomed
(soft-drop) mass must agree as well. A wrong decay chain, lost
constituents or a broken truth matching moves the peak by tens of GeV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assay_hep.validation import TOP_MASS, W_MASS, main, mass_peak, sample


def test_top_jet_mass_peaks_at_the_top_mass() -> None:
    top = sample("hep/top-tagging", "Tbqq")
    assert abs(mass_peak(top.mass) - TOP_MASS) < 8.0
    assert abs(mass_peak(top.sdmass) - TOP_MASS) < 8.0
    qcd = sample("hep/top-tagging", "QCD")
    assert np.median(qcd.mass) < 120.0  # QCD jets have no peak at m_t
    assert np.median(top.tau32) < np.median(qcd.tau32)  # three prongs, not one


def test_w_jet_mass_peaks_at_the_w_mass() -> None:
    w = sample("hep/jet-classes", "Wqq")
    assert abs(mass_peak(w.mass) - W_MASS) < 5.0
    assert abs(mass_peak(w.sdmass) - W_MASS) < 5.0


def test_mass_peak_finds_a_known_peak() -> None:
    rng = np.random.default_rng(0)
    mass = np.concatenate([rng.normal(150.0, 8.0, 500), rng.uniform(20.0, 300.0, 200)])
    assert mass_peak(mass) == pytest.approx(150.0, abs=1.5)


def test_validation_command_writes_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--out", str(tmp_path), "--chunks", "1"])
    out = capsys.readouterr().out
    assert "top-jet mass peak" in out
    assert "W-jet mass peak" in out
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) == 6
    assert all((tmp_path / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
