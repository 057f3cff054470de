"""`assay data export` of molecules: SMILES, targets, scaffolds and folds through Croissant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from assay.conformance.checks import check_croissant_export, exportable_suite_scenarios

pytest.importorskip("mlcroissant")


def test_freesolv_scaffold_export_round_trips(tmp_path: Path) -> None:
    bench = check_croissant_export("medicine/freesolv-scaffold", tmp_path / "export")
    description = json.loads((tmp_path / "export" / "croissant.json").read_text())
    fields = {f["@id"]: f for rs in description["recordSet"] for f in rs["field"]}
    assert fields["rows/smiles"]["dataType"] == "sc:Text"
    assert "kcal/mol" in fields["rows/target"]["description"]
    assert "scaffold" in fields["row_info/group"]["description"]
    assert "calculated" in fields["row_info/extra_calc"]["description"]
    assert "Mobley" in description["citeAs"]
    cited = " ".join(description["citation"])
    for reference in bench.spec.references:
        assert reference.citation in cited
    assert "rdkit" in description["measurementTechnique"]


STANDARD = Path(__file__).resolve().parents[3] / "scenarios" / "standard.toml"
EXPORTABLE_STANDARD = [
    "medicine/freesolv",
    "medicine/solubility",
    "medicine/chembl-pic50",
    "medicine/freesolv-scaffold",
    "medicine/solubility-scaffold",
]
"""The plugin's standard scenarios that `assay data export` serves, in suite order; a new
one fails the next test until it is listed here (and so round-trips below)."""
ROUND_TRIPPED_ABOVE = {"medicine/freesolv-scaffold"}
"""Round-tripped by a test above with further checks of their own."""


def test_the_exportable_standard_scenarios_are_the_listed_ones() -> None:
    assert list(exportable_suite_scenarios(STANDARD, "medicine")) == EXPORTABLE_STANDARD


@pytest.mark.parametrize(
    "scenario", [s for s in EXPORTABLE_STANDARD if s not in ROUND_TRIPPED_ABOVE]
)
def test_a_standard_scenario_export_round_trips(scenario: str, tmp_path: Path) -> None:
    ref = exportable_suite_scenarios(STANDARD, "medicine")[scenario]
    check_croissant_export(ref, tmp_path / "export", max_rows=40)
