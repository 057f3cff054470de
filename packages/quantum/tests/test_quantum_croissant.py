"""`assay data export` of quantum data: syndromes with their circuit, and feature tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stim  # type: ignore[import-untyped]
from assay.conformance.checks import check_croissant_export

pytest.importorskip("mlcroissant")


def test_surface_code_export_round_trips_with_its_circuit(tmp_path: Path) -> None:
    bench = check_croissant_export("quantum/surface-code-decoding", tmp_path / "export")
    circuit = stim.Circuit((tmp_path / "export" / "circuit.stim").read_text())
    assert circuit.num_detectors == bench.dataset.inputs.events.shape[1]
    assert np.asarray(bench.dataset.targets).max() == 1


def test_error_mitigation_export_round_trips(tmp_path: Path) -> None:
    check_croissant_export("quantum/error-mitigation", tmp_path / "export")
