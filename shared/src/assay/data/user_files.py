"""Sources that copy a user's files, or a small example bundled with a plugin.

Every such source answers one question, `input_files`: which files (or
folders) the data are read from. From that answer the core derives the rest,
the same way for every plugin:

- a missing file is one line naming it, before anything is written, and so is a
  folder where the source reads a file (or a file where it reads a folder:
  `reads_folder`);
- the cache key holds the sha256 of every file (a folder: of every file in
  it), so an edited file is read again; inputs too large to hash on every run
  can be keyed by path, size and modification time instead (`size_mtime_above`,
  and the `fingerprint` parameter of `FingerprintParams`);
- the cache entry is never rebuilt silently (`rebuildable = False`): a copy
  of a user's file that fails its checksum is refused, not regenerated;
- the data card says which files were read, how they are known (sha256 or
  size and modification time), their size, the day they were read and the
  user-file licence wording (`user_metadata`, `user_file_card`).

`bundled_path` hands out a plugin's bundled example, and `user_path` the
path a user gave, with `~` expanded. `require_varying_target` refuses a
target column that nothing can be learned from or scored on.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import numpy as np

from assay.data.cache import MANIFEST
from assay.data.dataset import (
    DatasetMetadata,
    Source,
    SourceParams,
    SourceParamsT,
    sha256_file,
    stable_hash,
)
from assay.errors import DataError

EXAMPLE = "example"
"""The `path` value that reads a plugin's bundled example instead of a user's file."""
USER_LICENCE = "user-supplied data (licence as given by its owner)"
"""The licence of a user's data: Assay cannot know it, the data's owner does."""

FingerprintMode = Literal["auto", "sha256", "size-mtime"]
"""How the cache knows a user's input files: by content ("sha256"), by path, size and
modification time ("size-mtime"), or by the source's size threshold ("auto")."""


def user_path(raw: Any) -> Path:
    return Path(str(raw)).expanduser().resolve()


def bundled_path(origin: str, package: str, *parts: str) -> Path:
    """A file or folder shipped inside `package` (e.g. its `examples/`)."""
    found = files(package).joinpath(*parts)
    if not isinstance(found, Path):  # a zipped install has no path to hand out
        raise DataError(f"{origin}: the bundled example needs an unzipped install of {package}")
    return found


def content_digest(path: Path) -> str:
    """sha256 of a file; of a folder, a hash over every file in it by relative name."""
    if path.is_file():
        return sha256_file(path)
    if path.is_dir():
        return stable_hash(
            {
                str(p.relative_to(path)): sha256_file(p)
                for p in sorted(path.rglob("*"))
                if p.is_file()
            }
        )
    return "missing"


def require_varying_target(values: Any, *, file: str | Path, column: str, hint: str = "") -> None:
    """Refuse, in one line naming `file` and `column`, a target that is missing in every
    row or holds one value throughout: a model would "succeed" on it with a meaningless
    score (a correlation of 0 and divide-by-zero warnings). `hint` says what to do."""
    array = np.asarray(values).ravel()
    if array.dtype.kind in "fc":
        present = array[np.isfinite(array)]
    elif array.dtype.kind == "O":
        present = np.asarray([v for v in array if v is not None and v == v], dtype=object)
    else:
        present = array
    tail = f"; {hint}" if hint else ""
    if present.size == 0:
        raise DataError(f"{file}: {column} is missing in every row, nothing to learn{tail}")
    first = present[0]
    if bool(np.all(present == first)):
        shown = f"{float(first):g}" if present.dtype.kind in "biuf" else repr(str(first))
        raise DataError(
            f"{file}: {column} is {shown} in all {present.size} rows given, nothing to learn{tail}"
        )


class FingerprintParams(SourceParams):
    """Parameters of a source whose inputs may be too large to hash on every run: its
    parameter model inherits this one, and the source sets `size_mtime_above`."""

    fingerprint: FingerprintMode = "auto"
    """how the cache knows the input files: "sha256" (their content), "size-mtime" (path,
    size and modification time; for inputs too large to hash on every run) or "auto"
    (size-mtime when the inputs together exceed the source's threshold, else sha256)"""


@dataclass(frozen=True)
class FileIdentity:
    """How the cache knows one input file or folder, and what the data card says of it."""

    path: Path
    size: int
    """Bytes (of every file in it, for a folder)."""
    files: int
    """1 for a file; for a folder, the files in it."""
    modified_ns: int
    """The latest modification time (ns since the epoch) of the file or of a file in it."""
    sha256: str | None
    """`content_digest` of the path; None when it is known by size and modification time."""
    stamp: str
    """What the cache key holds: the sha256, or the path with sizes and modification times."""

    def describe(self) -> str:
        """`PATH (sha256 0123456789abcdef, 1,234 bytes)`, or for size and mtime the
        modification time instead of a digest, said to be a fingerprint."""
        held = "" if self.path.is_file() else f" of its {self.files} files"
        if self.sha256 is not None:
            return f"{self.path} (sha256 {self.sha256[:16]}{held}, {self.size:,} bytes)"
        modified = datetime.fromtimestamp(self.modified_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
        return (
            f"{self.path} ({self.size:,} bytes{held}, modified {modified} UTC; "
            "a size-and-mtime fingerprint, not a content hash)"
        )


def identify(paths: Sequence[Path], mode: FingerprintMode, above: int | None) -> list[FileIdentity]:
    """Each path's identity: its sha256, or (for "size-mtime", or "auto" when the paths
    together hold more than `above` bytes) its path, sizes and modification times."""
    if mode not in get_args(FingerprintMode):
        raise DataError(
            f"fingerprint: {mode!r} is not one of {', '.join(get_args(FingerprintMode))}"
        )
    listed = [(path, _files_in(path)) for path in paths]
    sizes = [sum(size for _, size, _ in found) for _, found in listed]
    by_stamp = mode == "size-mtime" or (mode == "auto" and above is not None and sum(sizes) > above)
    identities = []
    for (path, found), size in zip(listed, sizes, strict=True):
        modified = max((mtime for _, _, mtime in found), default=0)
        if not path.exists():
            digest: str | None = "missing"
            stamp = "missing"
        elif by_stamp:
            digest = None
            where = path.resolve()
            stamp = "size-mtime:" + (
                f"{where}:{size}:{modified}"
                if path.is_file()
                else stable_hash([str(where), [list(stat) for stat in found]])
            )
        else:
            digest = stamp = content_digest(path)
        identities.append(FileIdentity(path, size, len(found), modified, digest, stamp))
    return identities


def _files_in(path: Path) -> list[tuple[str, int, int]]:
    """(name relative to `path`, bytes, mtime in ns) of the file, or of every file in the folder."""
    if path.is_file():
        stat = path.stat()
        return [(path.name, stat.st_size, stat.st_mtime_ns)]
    if not path.is_dir():
        return []
    found = []
    for file in sorted(path.rglob("*")):
        if file.is_file():
            stat = file.stat()
            found.append((str(file.relative_to(path)), stat.st_size, stat.st_mtime_ns))
    return found


LISTED_FILES = 5
"""Files a data card names one by one; beyond them it counts the rest."""


@dataclass(frozen=True)
class UserFileCard:
    """What a data card says of a user's files: which, how known, when read, and the licence."""

    provenance: str
    notes: tuple[str, ...] = ()
    licence: str = USER_LICENCE


def user_file_card(
    identities: Sequence[FileIdentity], files_dir: Path | None = None, what: str = ""
) -> UserFileCard:
    """The card of `identities`, read into the cache entry `files_dir` (its manifest's date
    is the day they were read). `what` names them (default "user file" / "user files")."""
    what = what or ("user file" if len(identities) == 1 else "user files")
    shown = [i.describe() for i in identities[:LISTED_FILES]]
    if len(identities) > LISTED_FILES:  # a glob over a thousand JetClass files
        total = sum(i.size for i in identities)
        shown.append(f"and {len(identities) - LISTED_FILES} more ({total:,} bytes in all)")
    provenance = f"{what} {', '.join(shown)}"
    manifest = None if files_dir is None else files_dir / MANIFEST
    if manifest is not None and manifest.is_file():
        read = datetime.fromtimestamp(manifest.stat().st_mtime, UTC).strftime("%Y-%m-%d")
        provenance += f"; read {read}"
    stamped = [i.path.name for i in identities if i.sha256 is None]
    if not stamped:
        return UserFileCard(provenance)
    names = ", ".join(stamped[:LISTED_FILES])
    if len(stamped) > LISTED_FILES:
        names += f" and {len(stamped) - LISTED_FILES} more files"
    note = (
        f"{names} {'is' if len(stamped) == 1 else 'are'} known to the cache by path, size and "
        "modification time (fingerprint=size-mtime), not by a content hash: an edit that keeps "
        "all three goes unnoticed, and the data sha hashes the copy read, not the files"
    )
    return UserFileCard(provenance, (note,))


class UserFileSource(Source[SourceParamsT]):
    """Base of a source whose data are a user's files (or a bundled example)."""

    rebuildable = False
    reads_folder: ClassVar[bool] = False
    """Whether `path` (what `--data` sets) names a folder (e.g. of structure files) rather
    than a file; the other kind is refused in one line before anything is read."""
    size_mtime_above: ClassVar[int | None] = None
    """Bytes above which the input files together are known by path, size and modification
    time instead of their sha256 (hashing 100 GB on every run would outlast the benchmark);
    None: always by sha256. A source whose parameters inherit `FingerprintParams` also lets
    the user choose with `fingerprint`."""

    @abstractmethod
    def input_files(self, params: SourceParamsT) -> Sequence[Path]:
        """Every file or folder the data are read from, resolved. Raise `DataError` when
        the parameters name none (e.g. no `path` given)."""

    def given_path(
        self, params: SourceParamsT, key: str = "path", example: Path | None = None
    ) -> Path:
        """The path under `key`; `example` when the user wrote "example"."""
        raw = getattr(params, key, None)
        if not raw:
            raise DataError(
                f"{self.name}: no file given; pass --data PATH (source parameter '{key}')"
            )
        if raw == EXAMPLE and example is not None:
            return example
        return user_path(raw)

    def check_inputs(self, params: SourceParamsT) -> None:
        raw = getattr(params, "path", None)
        if raw and raw != EXAMPLE:
            given = user_path(raw)
            wanted, other = ("folder", "file") if self.reads_folder else ("file", "folder")
            if given.is_dir() != self.reads_folder and given.exists():
                raise DataError(
                    f"{self.name}: {given} is a {other}; this source reads a {wanted} "
                    f"(--data {wanted.upper()})"
                )
        for path in self.input_files(params):
            if not path.exists():
                raise DataError(f"{self.name}: {path} not found; check the path given")

    def identities(self, params: SourceParamsT) -> list[FileIdentity]:
        """How the cache knows each input file (see `FingerprintParams`)."""
        mode: FingerprintMode = getattr(params, "fingerprint", "auto")
        return identify(self.input_files(params), mode, self.size_mtime_above)

    def fingerprint(self, params: SourceParamsT) -> str:
        return stable_hash([[i.path.name, i.stamp] for i in self.identities(params)])

    def user_metadata(
        self,
        params: SourceParamsT,
        files_dir: Path | None,
        *,
        name: str,
        version: str = "1",
        what: str = "",
        details: str = "",
        notes: Sequence[str] = (),
    ) -> DatasetMetadata:
        """The data card of the user's files in `params`, read into `files_dir`: the
        `user_file_card` provenance followed by the source's `details`, the user-file licence,
        and the source's `notes` followed by the card's."""
        card = user_file_card(self.identities(params), files_dir, what)
        return DatasetMetadata(
            name=name,
            version=version,
            provenance=card.provenance + (f"; {details}" if details else ""),
            licence=card.licence,
            notes=(*notes, *card.notes),
        )
