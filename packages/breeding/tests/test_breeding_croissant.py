"""`assay data export` of genotypes: a user's files, and a simulated population whose
protocol scores against true breeding values (exported as an annotation, not an input)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from assay.conformance.checks import check_croissant_export
from assay.data.croissant_read import open_dataset, records
from assay.engine.units import prepare
from assay.plugin import process_catalog
from assay.publish.croissant import export_scenario

pytest.importorskip("mlcroissant")


def test_user_files_export_round_trips(tmp_path: Path) -> None:
    check_croissant_export("breeding/user-files", tmp_path / "export", max_rows=100)


def test_simulated_population_export_keeps_tbv_apart(tmp_path: Path) -> None:
    catalog = process_catalog()
    summary = export_scenario(catalog, "breeding/genomic-prediction-h2-03", "quick", tmp_path / "x")
    dataset = open_dataset(summary.description)
    assert not dataset.metadata.ctx.issues.warnings
    prepared = prepare(catalog, "breeding/genomic-prediction-h2-03", "quick")
    info = records(dataset, "row_info", limit=50)
    np.testing.assert_allclose(info["extra_tbv"], prepared.dataset.extras["tbv"][:50])
    description = json.loads(summary.description.read_text())
    rows = next(rs for rs in description["recordSet"] if rs["@id"] == "rows")
    assert "rows/extra_tbv" not in {f["@id"] for f in rows["field"]}
    folds = records(dataset, "folds")
    listed = {
        (fold, seed, role): members
        for fold, seed, role, members in zip(
            folds["fold"], folds["seed"], folds["role"], folds["rows"], strict=True
        )
    }
    first, seed = prepared.plan.payload.folds[0], prepared.seeds[0]
    assert listed[first.name, seed, "test"] == sorted(int(r) for r in first.test)
