"""The deployment tests run against real services (`nox -s deployment` only).

Elsewhere (`pytest tests` in the integration session) they are skipped: they
need PostgreSQL's binaries and start servers. Set ASSAY_DEPLOYMENT=1 to run them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from services import Deployment  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ASSAY_DEPLOYMENT") == "1":
        return
    skip = pytest.mark.skip(reason="needs the services of `nox -s deployment` (ASSAY_DEPLOYMENT=1)")
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    # Not pytest's tmp_path: PostgreSQL runs as its own user, who must reach this folder.
    services = Deployment(Path(tempfile.mkdtemp(prefix="assay-deployment-")))
    try:
        services.start()
        yield services
    finally:
        services.close()
