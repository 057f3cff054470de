from __future__ import annotations

from pathlib import Path

import pytest
from medicine_fixtures import write_fixtures


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_fixtures(tmp_path_factory.mktemp("medicine-fixtures"))
