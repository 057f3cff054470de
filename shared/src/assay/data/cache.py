"""The data cache under `ASSAY_HOME` (default `~/.cache/assay`).

Each entry is a folder `data/<source>/<key>/` holding the source's files and a
`manifest.json` (parameters, generator versions, sha256 of every file). An
entry is written under a temporary name and renamed into place, so a killed
generation never leaves a half-written entry. A file that fails its checksum
is rebuilt for generated sources and refused for user files.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from assay.data.dataset import (
    Dataset,
    Source,
    SourceParams,
    read_json,
    sha256_file,
    stable_hash,
    write_json,
)
from assay.errors import CacheError, DataError

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"


def assay_home() -> Path:
    return Path(os.environ.get("ASSAY_HOME", Path.home() / ".cache" / "assay")).expanduser()


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    key: str
    data_sha256: str
    rebuilt: bool
    created: bool


class DataCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or assay_home()) / "data"

    def key(self, source: Source[Any], params: Mapping[str, Any]) -> str:
        return self._key(source, params, source.validate_params(params))

    def _key(self, source: Source[Any], given: Mapping[str, Any], parsed: SourceParams) -> str:
        # the values as given, not the parsed ones: a key never changes with a default
        return stable_hash(
            {
                "source": source.name,
                "version": source.version,
                "params": dict(given),
                "generators": source.generator_versions(),
                "fingerprint": source.fingerprint(parsed),
            }
        )[:20]

    def entry_path(self, source: Source[Any], params: Mapping[str, Any]) -> Path:
        return self._entry_path(source, params, source.validate_params(params))

    def _entry_path(
        self, source: Source[Any], given: Mapping[str, Any], parsed: SourceParams
    ) -> Path:
        return self.root / source.name.replace("/", "_") / self._key(source, given, parsed)

    def ensure(self, source: Source[Any], params: Mapping[str, Any]) -> CacheEntry:
        """Make sure a verified entry exists for (source, params); build it if needed."""
        return self._ensure(source, params, source.validate_params(params))

    def _ensure(
        self, source: Source[Any], given: Mapping[str, Any], parsed: SourceParams
    ) -> CacheEntry:
        path = self._entry_path(source, given, parsed)
        key = path.name
        if path.is_dir():
            problem = verify_entry(path)
            if problem is None:
                return CacheEntry(path, key, _entry_sha(path), rebuilt=False, created=False)
            if not source.rebuildable:
                raise CacheError(
                    f"cache entry {path} failed its checksum ({problem}); it was made from a "
                    "user file and is not rebuilt automatically: delete the folder and run "
                    "`assay data` again"
                )
            log.warning("cache entry %s failed its checksum (%s); rebuilding", path, problem)
            _remove_tree(path)
            self._build(source, given, parsed, path)
            return CacheEntry(path, key, _entry_sha(path), rebuilt=True, created=True)
        self._build(source, given, parsed, path)
        return CacheEntry(path, key, _entry_sha(path), rebuilt=False, created=True)

    def load(self, source: Source[Any], params: Mapping[str, Any]) -> tuple[Dataset, CacheEntry]:
        """The dataset for (source, params), from the cache, with its data sha in the metadata.
        The parameters are parsed once here; the source gets the parsed object."""
        parsed = source.validate_params(params)
        entry = self._ensure(source, params, parsed)
        dataset = source.load(parsed, entry.path)
        metadata = replace(dataset.metadata, sha256=entry.data_sha256)
        return replace(dataset, metadata=metadata), entry

    def _build(
        self, source: Source[Any], given: Mapping[str, Any], parsed: SourceParams, final: Path
    ) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
        try:
            source.prepare(parsed, staging)
            files = sorted(p for p in staging.rglob("*") if p.is_file())
            manifest = {
                "source": source.name,
                "source_version": source.version,
                "params": dict(given),
                "generator_versions": source.generator_versions(),
                "files": {str(p.relative_to(staging)): sha256_file(p) for p in files},
            }
            write_json(staging / MANIFEST, manifest)
            try:
                os.rename(staging, final)
            except OSError:
                if not (final / MANIFEST).is_file():  # not a concurrent writer that won the race
                    raise
        finally:
            if staging.exists():
                _remove_tree(staging)


def verify_entry(path: Path) -> str | None:
    """None when every file matches the manifest, else what is wrong."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        return "manifest missing"
    try:
        manifest = read_json(manifest_path)
        files: dict[str, str] = manifest["files"]
    except (DataError, KeyError, TypeError):
        return "manifest unreadable"
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            return f"{name} missing"
        if sha256_file(file) != expected:
            return f"{name} checksum mismatch"
    return None


def _entry_sha(path: Path) -> str:
    """The data sha: one hash over the manifest's per-file hashes (not its parameters)."""
    return stable_hash(read_json(path / MANIFEST)["files"])


def _remove_tree(path: Path) -> None:
    # Rename first so a half-removed folder is never mistaken for an entry.
    doomed = path.with_name(f".del-{path.name}-{os.getpid()}")
    try:
        os.rename(path, doomed)
    except OSError:
        doomed = path
    shutil.rmtree(doomed, ignore_errors=True)
