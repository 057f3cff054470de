"""`assay data export` of generated jets: Croissant records and the JetClass ROOT file."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from assay.conformance.checks import check_croissant_export
from assay_hep.readers import read_jet_files

pytest.importorskip("mlcroissant")


def test_top_tagging_export_round_trips(tmp_path: Path) -> None:
    bench = check_croissant_export("hep/top-tagging", tmp_path / "export")
    # jets.root holds the same jets, in row order, in the layout hep.files reads
    chunk = read_jet_files(tmp_path / "export" / "jets.root")
    jets = bench.dataset.inputs
    assert len(chunk) == len(jets)
    np.testing.assert_array_equal(ak.to_numpy(chunk.jets["jet_pt"]), ak.to_numpy(jets["jet_pt"]))
    np.testing.assert_array_equal(
        ak.to_numpy(ak.flatten(chunk.jets["part_px"])), ak.to_numpy(ak.flatten(jets["part_px"]))
    )
    labels = dict(zip(chunk.label_names, chunk.labels.T, strict=True))
    np.testing.assert_array_equal(labels["Tbqq"], np.asarray(bench.dataset.targets) == 1)
