"""`assay data export` of cells and genome windows through Croissant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from assay.conformance.checks import check_croissant_export, exportable_suite_scenarios

pytest.importorskip("mlcroissant")


def test_pbmc_export_round_trips_with_text_labels(tmp_path: Path) -> None:
    check_croissant_export("lifesci/pbmc-annotation", tmp_path / "export", max_rows=100)
    description = json.loads((tmp_path / "export" / "croissant.json").read_text())
    fields = {f["@id"]: f for rs in description["recordSet"] for f in rs["field"]}
    assert fields["rows/expression"]["repeated"] is True
    assert "765 genes" in fields["rows/expression"]["description"]
    assert fields["rows/target"]["dataType"] == "sc:Text"


def test_coding_regions_export_round_trips_with_sequences(tmp_path: Path) -> None:
    check_croissant_export("lifesci/coding-regions", tmp_path / "export")
    description = json.loads((tmp_path / "export" / "croissant.json").read_text())
    fields = {f["@id"]: f for rs in description["recordSet"] for f in rs["field"]}
    assert fields["rows/sequence"]["dataType"] == "sc:Text"
    assert {"row_info/extra_contig", "row_info/extra_start", "row_info/group"} <= set(fields)


STANDARD = Path(__file__).resolve().parents[3] / "scenarios" / "standard.toml"
EXPORTABLE_STANDARD = [
    "lifesci/pbmc-annotation",
    "lifesci/label-projection",
    "lifesci/coding-regions",
]
"""The plugin's standard scenarios that `assay data export` serves, in suite order; a new
one fails the next test until it is listed here (and so round-trips below).
lifesci/denoising is left out: molecular cross-validation splits counts, not rows."""
ROUND_TRIPPED_ABOVE = {"lifesci/pbmc-annotation", "lifesci/coding-regions"}
"""Round-tripped by a test above with further checks of their own."""


def test_the_exportable_standard_scenarios_are_the_listed_ones() -> None:
    assert list(exportable_suite_scenarios(STANDARD, "lifesci")) == EXPORTABLE_STANDARD


@pytest.mark.parametrize(
    "scenario", [s for s in EXPORTABLE_STANDARD if s not in ROUND_TRIPPED_ABOVE]
)
def test_a_standard_scenario_export_round_trips(scenario: str, tmp_path: Path) -> None:
    ref = exportable_suite_scenarios(STANDARD, "lifesci")[scenario]
    check_croissant_export(ref, tmp_path / "export", max_rows=40)
