"""`assay data export` of quantum data: syndromes with their circuit, and feature tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stim  # type: ignore[import-untyped]
from assay.conformance.checks import check_croissant_export, exportable_suite_scenarios

pytest.importorskip("mlcroissant")


def test_surface_code_export_round_trips_with_its_circuit(tmp_path: Path) -> None:
    bench = check_croissant_export("quantum/surface-code-decoding", tmp_path / "export")
    circuit = stim.Circuit((tmp_path / "export" / "circuit.stim").read_text())
    assert circuit.num_detectors == bench.dataset.inputs.events.shape[1]
    assert np.asarray(bench.dataset.targets).max() == 1


def test_error_mitigation_export_round_trips(tmp_path: Path) -> None:
    check_croissant_export("quantum/error-mitigation", tmp_path / "export")


STANDARD = Path(__file__).resolve().parents[3] / "scenarios" / "standard.toml"
EXPORTABLE_STANDARD = [
    "quantum/surface-code-decoding",
    "quantum/surface-code-decoding-d3-p003",
    "quantum/surface-code-decoding-d5-p005",
    "quantum/surface-code-decoding-d5-p003",
    "quantum/qml-linearly-separable",
    "quantum/qml-hidden-manifold",
    "quantum/qml-two-curves",
    "quantum/error-mitigation",
    "quantum/error-mitigation-depth",
]
"""The plugin's standard scenarios that `assay data export` serves, in suite order; a new
one fails the next test until it is listed here (and so round-trips below)."""
ROUND_TRIPPED_ABOVE = {"quantum/surface-code-decoding", "quantum/error-mitigation"}
"""Round-tripped by a test above with further checks of their own."""


def test_the_exportable_standard_scenarios_are_the_listed_ones() -> None:
    assert list(exportable_suite_scenarios(STANDARD, "quantum")) == EXPORTABLE_STANDARD


@pytest.mark.parametrize(
    "scenario", [s for s in EXPORTABLE_STANDARD if s not in ROUND_TRIPPED_ABOVE]
)
def test_a_standard_scenario_export_round_trips(scenario: str, tmp_path: Path) -> None:
    ref = exportable_suite_scenarios(STANDARD, "quantum")[scenario]
    check_croissant_export(ref, tmp_path / "export", max_rows=40)
