"""Jet files: ROOT TTrees in the JetClass layout (written with uproot) and one reader.

The reader takes our own files, the published JetClass ROOT files (a glob of
many files, read chunk by chunk so memory stays bounded; a TTree, or an
RNTuple through uproot's RNTuple reader, whose constituents may be the
members of a record field, `part.px`, as uproot writes a zipped `part`
record to an RNTuple) and the TopLandscape HDF5 files
(pandas "fixed" layout: `E_i, PX_i, PY_i, PZ_i`, `is_signal_new`). Every
source yields the same `JetChunk`: JetClass branch names, jagged particle
arrays, jet columns (substructure a file lacks is computed from its
constituents) and one-hot `label_*` columns. Bad input raises one
`DataError`, on one line, naming the file and the branch.
"""

from __future__ import annotations

import datetime as _datetime
import glob
import types
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak  # type: ignore[import-untyped]
import h5py  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import uproot  # type: ignore[import-untyped]
from assay.kit import DataError, reason
from uproot.behaviors.RNTuple import RNTuple  # type: ignore[import-untyped]

from assay_hep.features import (
    CONSTITUENT_FIELDS,
    jet_columns_from_particles,
    missing_substructure,
)

TREE = "tree"
PARTICLE_BRANCHES = CONSTITUENT_FIELDS
ANGULAR_BRANCHES = ("part_deta", "part_dphi")
JET_BRANCHES = ("jet_pt", "jet_eta", "jet_phi", "jet_energy")
SUBSTRUCTURE_BRANCHES = (
    "jet_nparticles",
    "jet_sdmass",
    "jet_tau1",
    "jet_tau2",
    "jet_tau3",
    "jet_tau4",
)
LABEL_PREFIX = "label_"
DEFAULT_STEP = 100_000
BASKET_JETS = 10_000
"""Jets per basket in the files we write."""
"""Jets per chunk when reading; bounds memory for the 100M-jet JetClass files."""
TOPLANDSCAPE_PARTICLES = 200


@dataclass(frozen=True)
class JetChunk:
    """Jets from one file slice: `jets` has JetClass field names; `labels` is one-hot."""

    jets: ak.Array
    labels: npt.NDArray[np.int64]
    label_names: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.jets)


# ----------------------------------------------------------------------------- writing


class _FixedClock(_datetime.datetime):
    @classmethod
    def now(cls, tz: _datetime.tzinfo | None = None) -> _FixedClock:
        del tz
        return cls(2020, 1, 1)


_UPROOT_CLOCK_MODULES = (
    "uproot.writing._cascade",
    "uproot.writing._cascadetree",
    "uproot.writing._cascadentuple",
    "uproot.writing.writable",
)


@contextmanager
def _fixed_root_stamps() -> Iterator[None]:
    """ROOT stamps wall-clock times into every key; fix them so equal jets give equal bytes.

    The cache hashes every file, and a source must be deterministic, so the
    timestamps (and the file UUID, see `write_jets_root`) may not vary.
    """
    import importlib

    shim = types.SimpleNamespace(**vars(_datetime))
    shim.datetime = _FixedClock
    modules = [importlib.import_module(name) for name in _UPROOT_CLOCK_MODULES]
    saved = [getattr(module, "datetime") for module in modules]  # noqa: B009
    for module in modules:
        setattr(module, "datetime", shim)  # noqa: B010
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            setattr(module, "datetime", original)  # noqa: B010


def write_jets_root(
    path: Path, columns: Mapping[str, npt.NDArray[Any]], *, tree: str = TREE
) -> None:
    """Write one TTree: `counts` plus flat `part_*` arrays become jagged branches (one counter)."""
    counts = np.asarray(columns["counts"], dtype=np.int64)
    particle_names = [k for k in columns if k.startswith("part_")]
    particles = ak.zip(
        {
            name.removeprefix("part_"): ak.unflatten(np.asarray(columns[name]), counts)
            for name in particle_names
        }
    )
    branches: dict[str, Any] = {"part": particles}
    for name, values in columns.items():
        if name == "counts" or name.startswith("part_"):
            continue
        branches[name] = np.asarray(values)
    with (
        _fixed_root_stamps(),
        uproot.recreate(path, uuid_function=lambda: uuid.UUID(int=0)) as handle,
    ):
        # mktree: assigning a dict would write an RNTuple, which JetClass readers do not expect.
        types = {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()}
        ttree = handle.mktree(tree, types)
        # One basket per extend: baskets of BASKET_JETS let a chunked reader
        # decompress only what it reads (a single basket is re-read per chunk).
        for start in range(0, max(len(counts), 1), BASKET_JETS):
            ttree.extend({k: v[start : start + BASKET_JETS] for k, v in branches.items()})


# ----------------------------------------------------------------------------- reading


def expand_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """A path, a glob or a list of them, as a sorted list of existing files."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    found: list[Path] = []
    for item in items:
        text = str(Path(item).expanduser())
        if glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text))
            if not matches:
                raise DataError(f"{text}: the pattern matches no file")
            found += matches
        elif Path(text).is_file():
            found.append(Path(text))
        else:
            raise DataError(f"{text}: no such file")
    return found


def iter_jet_files(
    paths: str | Path | Sequence[str | Path],
    *,
    tree: str = TREE,
    step_size: int = DEFAULT_STEP,
) -> Iterator[JetChunk]:
    """Chunks of jets from ROOT (`.root`) and TopLandscape HDF5 (`.h5`, `.hdf5`) files."""
    for path in expand_paths(paths):
        if path.suffix.lower() in {".h5", ".hdf5"}:
            yield from _iter_toplandscape(path, step_size)
        else:
            yield from _iter_root(path, tree, step_size)


def read_jet_files(
    paths: str | Path | Sequence[str | Path],
    *,
    tree: str = TREE,
    step_size: int = DEFAULT_STEP,
    max_jets: int | None = None,
) -> JetChunk:
    """All jets of `paths` as one chunk; label sets must agree.

    With `max_jets`, each entry of `paths` (a file or a glob) gives an equal
    share, in file order: with one glob per class (JetClass files hold one
    class each) the classes stay balanced instead of the first filling the set.
    """
    entries = [paths] if isinstance(paths, str | Path) else list(paths)
    if max_jets is not None and max_jets < len(entries):
        raise DataError(f"max_jets={max_jets} is fewer than one jet per entry of {entries}")
    chunks: list[JetChunk] = []
    for k, entry in enumerate(entries):
        share = (
            None if max_jets is None else max_jets // len(entries) + (k < max_jets % len(entries))
        )
        chunks += _read_up_to(entry, tree, step_size, share)
    if not chunks:
        raise DataError(f"{paths}: no jets found")
    for chunk in chunks[1:]:
        if chunk.label_names != chunks[0].label_names:
            raise DataError(
                f"{chunk.source}: labels {list(chunk.label_names)} differ from "
                f"{list(chunks[0].label_names)} in {chunks[0].source}"
            )
    if len(chunks) == 1:
        return chunks[0]
    return JetChunk(
        jets=ak.concatenate([c.jets for c in chunks]),
        labels=np.concatenate([c.labels for c in chunks]),
        label_names=chunks[0].label_names,
        source=", ".join(dict.fromkeys(c.source for c in chunks)),
    )


def _read_up_to(
    entry: str | Path, tree: str, step_size: int, max_jets: int | None
) -> list[JetChunk]:
    chunks: list[JetChunk] = []
    total = 0
    for chunk in iter_jet_files(entry, tree=tree, step_size=step_size):
        if max_jets is not None and total + len(chunk) > max_jets:
            chunk = _head(chunk, max_jets - total)
        chunks.append(chunk)
        total += len(chunk)
        if max_jets is not None and total >= max_jets:
            break
    return chunks


def _head(chunk: JetChunk, n: int) -> JetChunk:
    return JetChunk(chunk.jets[:n], chunk.labels[:n], chunk.label_names, chunk.source)


def _open_tree(path: Path, tree: str) -> Any:
    """The TTree (or RNTuple, which uproot reads alike) `tree` of a ROOT file."""
    try:
        handle = uproot.open(path)
    except Exception as exc:  # uproot raises many kinds for a foreign or truncated header
        raise DataError(f"{path}: not a readable ROOT file ({reason(exc)})") from None
    try:
        keys = handle.keys(cycle=False)
    except Exception as exc:
        raise DataError(f"{path}: ROOT directory unreadable, truncated? ({reason(exc)})") from None
    if tree not in keys:
        raise DataError(
            f"{path}: no TTree or RNTuple '{tree}' (the file holds: {sorted(keys) or 'nothing'})"
        )
    try:
        obj = handle[tree]
    except Exception as exc:
        raise DataError(f"{path}: '{tree}' unreadable, truncated? ({reason(exc)})") from None
    if not isinstance(obj, uproot.TTree | RNTuple):
        kind = getattr(obj, "classname", type(obj).__name__)
        raise DataError(f"{path}: '{tree}' is a {kind}, not a TTree or RNTuple")
    return obj


def _kind(ttree: Any) -> str:
    """How a message names the object: uproot's class name for an RNTuple is internal."""
    return "RNTuple" if isinstance(ttree, RNTuple) else "TTree"


def _iter_root(path: Path, tree: str, step_size: int) -> Iterator[JetChunk]:
    ttree = _open_tree(path, tree)
    what = f"{_kind(ttree)} '{tree}'"
    stored = _flat_names(ttree.keys())
    names = set(stored)
    _check_branches(f"{path}: {what}", names, ttree.keys())
    labels = tuple(sorted(n for n in names if n.startswith(LABEL_PREFIX)))
    optional = [b for b in (*ANGULAR_BRANCHES, *SUBSTRUCTURE_BRANCHES) if b in names]
    wanted = [*PARTICLE_BRANCHES, *JET_BRANCHES, *optional, *labels]
    missing = [b for b in SUBSTRUCTURE_BRANCHES if b not in names]
    batches = _read_steps(ttree, [stored[b] for b in wanted], step_size)
    while True:
        try:
            arrays = next(batches)
        except StopIteration:
            return
        except Exception as exc:  # uproot raises many kinds for truncated baskets
            raise DataError(
                _unreadable(path, what, ttree, [stored[b] for b in wanted], exc)
            ) from None
        columns = {name: _field(arrays, stored[name]) for name in wanted}
        yield _chunk_from_columns(path, columns, labels, missing)


def _flat_names(keys: Sequence[str]) -> dict[str, str]:
    """JetClass name -> the name stored in the file. A record field's member (`part.px`,
    what uproot writes to an RNTuple for a zipped `part` record) reads as `part_px`; a
    flat branch of the same name wins."""
    stored = {key: key for key in keys if "." not in key}
    for key in keys:
        record, dot, member = key.partition(".")
        if dot and "." not in member:
            stored.setdefault(f"{record}_{member}", key)
    return stored


def _field(arrays: ak.Array, stored: str) -> ak.Array:
    """One column of a read step: an RNTuple's `part.px` comes back as field `px` of
    record `part`; a TTree branch keeps its name, dots included."""
    if stored in arrays.fields:
        return arrays[stored]
    record, _, member = stored.partition(".")
    return arrays[record][member]


def _check_branches(where: str, names: set[str], found: Sequence[str]) -> None:
    """One line naming every required branch that is absent, what it is needed for, and
    what the file holds instead."""
    absent = [b for b in (*PARTICLE_BRANCHES, *JET_BRANCHES) if b not in names]
    if absent:
        quoted = ", ".join(f"'{b}'" for b in absent)
        message = f"{where} has no branch{'es' if len(absent) > 1 else ''} {quoted}"
        lacking = [b for b in SUBSTRUCTURE_BRANCHES if b not in names]
        if any(b in PARTICLE_BRANCHES for b in absent) and lacking:
            message += (
                f"; the constituents (part_px, part_py, part_pz, part_energy) are needed "
                f"to compute the missing {', '.join(lacking)}"
            )
        raise DataError(f"{message}; it holds: {_listing(found)}")
    if not any(n.startswith(LABEL_PREFIX) for n in names):
        raise DataError(f"{where} has no '{LABEL_PREFIX}*' branch")


MAX_LISTED = 30
"""Names a message lists of what a tree holds; JetClass trees have about 40."""


def _listing(found: Sequence[str]) -> str:
    names = sorted(found)
    if not names:
        return "nothing"
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def _read_steps(ttree: Any, wanted: list[str], step_size: int) -> Iterator[Any]:
    """The branches in steps; lazily, so that read errors surface at next()."""
    if ttree.num_entries <= step_size:
        # One step: one arrays() call; uproot's iterate() costs more for the same bytes.
        yield ttree.arrays(wanted, library="ak")
    else:
        yield from ttree.iterate(wanted, step_size=step_size, library="ak")


def _unreadable(path: Path, what: str, ttree: Any, names: Sequence[str], exc: Exception) -> str:
    """The message for a tree that fails to read, naming the first branch that fails alone."""
    for name in names:
        try:
            for _ in ttree.iterate([name], step_size=DEFAULT_STEP, library="ak"):
                pass
        except Exception:
            return (
                f"{path}: branch '{name}' of {what} cannot be read, truncated or corrupt "
                f"({reason(exc)})"
            )
    return f"{path}: {what} cannot be read, truncated or corrupt ({reason(exc)})"


def _chunk_from_columns(
    path: Path, columns: dict[str, ak.Array], labels: tuple[str, ...], missing: Sequence[str]
) -> JetChunk:
    label_matrix = np.stack([ak.to_numpy(columns.pop(name)) for name in labels], axis=1)
    _check_finite(path, columns)
    if missing:
        # Files without some substructure (e.g. no N-subjettiness): computed from the
        # constituents, so the trees and the cut run on any JetClass-layout file.
        particles = {b: columns[b] for b in PARTICLE_BRANCHES}
        columns.update(missing_substructure(particles, missing))
    jets = ak.zip(columns, depth_limit=1)
    return JetChunk(
        jets=jets,
        labels=label_matrix.astype(np.int64),
        label_names=tuple(n.removeprefix(LABEL_PREFIX) for n in labels),
        source=str(path),
    )


def _check_finite(path: Path, columns: Mapping[str, ak.Array]) -> None:
    for name, column in columns.items():
        values = ak.to_numpy(ak.flatten(column, axis=None))
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            raise DataError(f"{path}: branch '{name}' holds NaN or infinite values")


# ----------------------------------------------------------------------------- TopLandscape


def _hdf5_columns(path: Path, handle: Any) -> tuple[Any, dict[str, tuple[Any, int]]]:
    """The pandas "fixed" layout: blockK_items name the columns of blockK_values."""
    groups = [k for k in handle if isinstance(handle[k], h5py.Group)]
    if not groups:
        raise DataError(f"{path}: no pandas table group in this HDF5 file")
    group = handle["table"] if "table" in handle else handle[groups[0]]
    columns: dict[str, tuple[Any, int]] = {}
    k = 0
    while f"block{k}_items" in group:
        items = [i.decode() if isinstance(i, bytes) else str(i) for i in group[f"block{k}_items"]]
        values = group[f"block{k}_values"]
        columns.update({name: (values, j) for j, name in enumerate(items)})
        k += 1
    if not columns:
        raise DataError(f"{path}: group '{group.name}' is not a pandas fixed-format table")
    return group, columns


def _iter_toplandscape(path: Path, step_size: int) -> Iterator[JetChunk]:
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({reason(exc)})") from None
    with handle:
        _, columns = _hdf5_columns(path, handle)
        for name in ("E_0", "PX_0", "PY_0", "PZ_0", "is_signal_new"):
            if name not in columns:
                raise DataError(f"{path}: TopLandscape column '{name}' is missing")
        n_part = 0
        while n_part < TOPLANDSCAPE_PARTICLES and f"E_{n_part}" in columns:
            n_part += 1
        n_rows = columns["E_0"][0].shape[0]
        for start in range(0, n_rows, step_size):
            stop = min(start + step_size, n_rows)
            try:
                yield _toplandscape_chunk(path, columns, n_part, start, stop)
            except (OSError, KeyError) as exc:
                raise DataError(f"{path}: rows {start}-{stop} unreadable ({reason(exc)})") from None


def _block_rows(columns: dict[str, tuple[Any, int]], start: int, stop: int) -> dict[int, Any]:
    cache: dict[int, Any] = {}
    for dataset, _ in columns.values():
        if id(dataset) not in cache:
            cache[id(dataset)] = np.asarray(dataset[start:stop])
    return cache


def _toplandscape_chunk(
    path: Path, columns: dict[str, tuple[Any, int]], n_part: int, start: int, stop: int
) -> JetChunk:
    blocks = _block_rows(columns, start, stop)

    def column(name: str) -> npt.NDArray[np.float64]:
        dataset, j = columns[name]
        return np.asarray(blocks[id(dataset)][:, j], dtype=np.float64)

    grid = {
        field: np.stack([column(f"{prefix}_{i}") for i in range(n_part)], axis=1)
        for field, prefix in (("energy", "E"), ("px", "PX"), ("py", "PY"), ("pz", "PZ"))
    }
    for field, values in grid.items():
        if not np.all(np.isfinite(values)):
            raise DataError(f"{path}: column '{field}' holds NaN or infinite values")
    present = grid["energy"] > 0  # zero-padded: real constituents have E > 0
    counts = present.sum(axis=1)
    particles = {
        f"part_{field}": ak.unflatten(values[present], counts) for field, values in grid.items()
    }
    jets = ak.zip({**particles, **jet_columns_from_particles(particles)}, depth_limit=1)
    signal = column("is_signal_new").astype(np.int64)
    return JetChunk(
        jets=jets,
        labels=np.stack([1 - signal, signal], axis=1),
        label_names=("QCD", "Tbqq"),
        source=str(path),
    )
