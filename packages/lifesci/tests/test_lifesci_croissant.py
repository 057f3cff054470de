"""`assay data export` of cells and genome windows through Croissant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from assay.conformance.checks import check_croissant_export

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
