"""Opening the tracking store safely when many drivers start at once.

MLflow creates and migrates a new sqlite store on first use with no guard
against another process doing the same, so drivers started together on a new
store crash in the migration and leave it half-migrated. Every assay process
opens a sqlite store under an exclusive lock on a file beside it: the first
creates the schema, the others wait and then find it ready. Server and
PostgreSQL stores are migrated by whoever runs them (`mlflow db upgrade`) and
are opened as they are.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from assay.errors import AssayError

_OPENED: set[str] = set()


def open_store(uri: str) -> None:
    """Create or check the store at `uri` once per process, before anything else uses it."""
    if uri in _OPENED:
        return
    path = sqlite_path(uri)
    if path is not None:
        with _exclusive(path.with_name(path.name + ".lock")):
            try:
                MlflowClient(uri).search_experiments(max_results=1)  # creates or migrates it
            except Exception as exc:
                raise _store_error(uri, path, exc) from None
    _OPENED.add(uri)


def sqlite_path(uri: str) -> Path | None:
    """The file of a sqlite store URI (`sqlite:///relative`, `sqlite:////absolute`)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    database = uri.removeprefix(prefix).split("?", 1)[0]
    return Path(database) if database and database != ":memory:" else None


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock` (released when the file closes, or the process dies)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        if sys.platform != "win32":
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _store_error(uri: str, path: Path, exc: Exception) -> Exception:
    """One sentence for a store MLflow cannot open because of its schema; anything else as is."""
    leftovers = _migration_leftovers(path)
    if leftovers:
        drops = "; ".join(f"DROP TABLE {name}" for name in leftovers)
        return AssayError(
            f"the MLflow store {path} was left half-migrated by an interrupted schema "
            f"migration (leftover tables: {', '.join(leftovers)}); if it holds no runs you "
            f"need, delete it and run again; otherwise back it up, run "
            f"`sqlite3 {path} '{drops}'` and then `mlflow db upgrade {uri}`"
        )
    if isinstance(exc, MlflowException) and "out-of-date database schema" in exc.message:
        return AssayError(
            f"the MLflow store {path} has an older schema than this MLflow: back it up and "
            f"run `mlflow db upgrade {uri}`"
        )
    return exc


def _migration_leftovers(path: Path) -> list[str]:
    """Tables an interrupted alembic migration leaves behind (`_alembic_tmp_*`)."""
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            rows = conn.execute(
                "select name from sqlite_master where type = 'table' and name like '\\_alembic\\_tmp\\_%' escape '\\'"
            ).fetchall()
    except sqlite3.Error:
        return []
    return sorted(str(name) for (name,) in rows)


def read_artifact(client: MlflowClient, run: Any, name: str) -> str | None:
    """The text of a run's artifact `name`, or None when it has none. A local artifact
    store is read in place: MLflow's download copies every file through a temporary folder,
    which made rebuilding a board of a few hundred runs take half a minute."""
    parsed = urlparse(str(run.info.artifact_uri))
    if parsed.scheme in ("", "file"):
        path = Path(unquote(parsed.path)) / name
        return path.read_text(encoding="utf-8") if path.is_file() else None
    if name not in {a.path for a in client.list_artifacts(run.info.run_id)}:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        return Path(client.download_artifacts(run.info.run_id, name, scratch)).read_text(
            encoding="utf-8"
        )
