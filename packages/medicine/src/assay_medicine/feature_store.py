"""Feature vectors on disk, shared by every process and every run.

One SQLite file per RDKit version under `ASSAY_HOME/features/`, keyed by
(feature block, standardised SMILES). Workers of the process and Dask
executors, later runs and the benchmark all read what any of them computed.
Each write is one SQLite transaction, so a killed process never leaves a
half-written vector; a store that cannot be opened or read is skipped (the
features are recomputed), never trusted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rdkit
from assay.kit import assay_home

SQL_CHUNK = 500  # rows per SELECT; SQLite limits the number of bound parameters


def default_store_path() -> Path:
    return assay_home() / "features" / f"medicine-rdkit-{rdkit.__version__}.sqlite"


class FeatureStore:
    """(block, SMILES) -> float32 vector in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=60)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS features ("
                "block TEXT NOT NULL, smiles TEXT NOT NULL, vector BLOB NOT NULL, "
                "PRIMARY KEY (block, smiles))"
            )
            self._connection = connection
        return self._connection

    def get(self, block: str, smiles: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
        """The stored vectors among `smiles`; an unreadable store yields none."""
        found: dict[str, npt.NDArray[np.float32]] = {}
        try:
            connection = self._connect()
            for start in range(0, len(smiles), SQL_CHUNK):
                chunk = list(smiles[start : start + SQL_CHUNK])
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT smiles, vector FROM features WHERE block = ? AND smiles IN ({marks})",
                    [block, *chunk],
                )
                for key, blob in rows:
                    found[str(key)] = np.frombuffer(blob, dtype=np.float32).copy()
        except sqlite3.Error:
            return {}
        return found

    def put(self, block: str, vectors: Mapping[str, npt.NDArray[np.float32]]) -> None:
        """Store new vectors in one transaction; a store that refuses writes is skipped."""
        if not vectors:
            return
        rows = [
            (block, key, np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for key, v in vectors.items()
        ]
        try:
            with self._connect() as connection:
                connection.executemany("INSERT OR IGNORE INTO features VALUES (?, ?, ?)", rows)
        except sqlite3.Error:
            return

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
