"""Sources that copy a user's files, or a small example bundled with a plugin.

Every such source answers one question, `input_files`: which files (or
folders) the data are read from. From that answer the core derives the rest,
the same way for every plugin:

- a missing file is one line naming it, before anything is written, and so is a
  folder where the source reads a file (or a file where it reads a folder:
  `reads_folder`);
- the cache key holds the sha256 of every file (a folder: of every file in
  it), so an edited file is read again;
- the cache entry is never rebuilt silently (`rebuildable = False`): a copy
  of a user's file that fails its checksum is refused, not regenerated.

`bundled_path` hands out a plugin's bundled example, and `user_path` the
path a user gave, with `~` expanded. `require_varying_target` refuses a
target column that nothing can be learned from or scored on.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from assay.data.dataset import Source, sha256_file, stable_hash
from assay.errors import DataError

EXAMPLE = "example"
"""The `path` value that reads a plugin's bundled example instead of a user's file."""


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


class UserFileSource(Source):
    """Base of a source whose data are a user's files (or a bundled example)."""

    rebuildable = False
    reads_folder: ClassVar[bool] = False
    """Whether `path` (what `--data` sets) names a folder (e.g. of structure files) rather
    than a file; the other kind is refused in one line before anything is read."""

    @abstractmethod
    def input_files(self, params: Mapping[str, Any]) -> Sequence[Path]:
        """Every file or folder the data are read from, resolved. Raise `DataError` when
        the parameters name none (e.g. no `path` given)."""

    def given_path(
        self, params: Mapping[str, Any], key: str = "path", example: Path | None = None
    ) -> Path:
        """The path under `key`; `example` when the user wrote "example"."""
        raw = params.get(key)
        if not raw:
            raise DataError(
                f"{self.name}: no file given; pass --data PATH (source parameter '{key}')"
            )
        if raw == EXAMPLE and example is not None:
            return example
        return user_path(raw)

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        raw = params.get("path")
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

    def fingerprint(self, params: Mapping[str, Any]) -> str:
        return stable_hash([[p.name, content_digest(p)] for p in self.input_files(params)])
