"""The deployment tests run against real services: the `deployment` tier, which only
`nox -s deployment` selects (`-m deployment`); they need PostgreSQL's binaries and start
servers. Every test module here is marked `deployment` (tests/test_tiers.py checks it).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from services import Deployment  # noqa: E402


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    # Not pytest's tmp_path: PostgreSQL runs as its own user, who must reach this folder.
    services = Deployment(Path(tempfile.mkdtemp(prefix="assay-deployment-")))
    try:
        services.start()
        yield services
    finally:
        services.close()
