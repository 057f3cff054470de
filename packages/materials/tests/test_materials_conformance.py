"""The core conformance kit over the materials plugin (scenarios, sources, splits, every model)."""

from pathlib import Path

import pytest
from assay.testing import ConformanceCheck, conformance_checks
from assay_materials.plugin import plugin


@pytest.mark.parametrize("check", conformance_checks(plugin), ids=str)
def test_conformance(check: ConformanceCheck, tmp_path: Path) -> None:
    check.run(tmp_path)
