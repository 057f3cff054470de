"""`assay data export` of molecules: SMILES, targets, scaffolds and folds through Croissant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from assay.conformance.checks import check_croissant_export

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
