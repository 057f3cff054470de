"""The Croissant descriptions committed beside the standard boards (`nox -s standard`
writes them with `assay data export --description-only`): one per exportable standard
scenario, each valid for mlcroissant, and a page links its description exactly when the
description names the data its board ran on."""

from __future__ import annotations

import json

import pytest
from assay.conformance.checks import exportable_suite_scenarios
from assay.data.croissant_read import validation_warnings
from assay.publish.croissant import described_data_sha, description_path
from harness import ROOT

pytest.importorskip("mlcroissant")

BOARDS = ROOT / "leaderboards"
EXPORTABLE = sorted(exportable_suite_scenarios(ROOT / "scenarios" / "standard.toml"))


def test_every_exportable_standard_scenario_has_a_valid_description() -> None:
    assert EXPORTABLE, "no plugin with exportable standard scenarios is installed"
    for scenario in EXPORTABLE:
        path = description_path(BOARDS, scenario)
        assert path.is_file(), f"{scenario}: no {path.name} (nox -s standard writes it)"
        assert not validation_warnings(path), scenario
        description = json.loads(path.read_text(encoding="utf-8"))
        assert "size standard" in description["keywords"], scenario
        assert "not kept beside this description" in description["description"], scenario


def test_a_committed_page_links_its_description_when_the_data_are_the_same() -> None:
    for scenario in EXPORTABLE:
        page = (BOARDS / f"{scenario}.html").read_text(encoding="utf-8")
        board = json.loads((BOARDS / f"{scenario}.json").read_text(encoding="utf-8"))
        path = description_path(BOARDS, scenario)
        linked = f'<a href="{path.name}">' in page
        assert linked == (described_data_sha(path) == board["data_sha"]), scenario
        assert f"<code>assay data export {scenario} --size standard --out DIR</code>" in page
