"""Matbench task files in the forms Matbench, matminer and pandas write them.

Matbench's tasks reach users in a few shapes, all read here:

- compressed or not: plain `.json`, gzip (`.json.gz`, matminer's download),
  bz2 (`.json.bz2`, the task files in Matbench's repository) or xz, told
  apart by their first bytes rather than by the file name;
- pandas "split" orient, `{"index": [...], "columns": [...], "data": [[...]]}`
  (matminer's `store_dataframe_as_json`, pymatgen objects as Monty dicts;
  `index` may be absent, and pandas' "tight" variant adds `index_names`);
- pandas "columns" orient, `{column: {row: value}}` (pandas' default
  `to_json`, the layout of the task files in Matbench's repository, with an
  `mbid` column), and its transpose "index" orient, `{row: {column: value}}`;
- pandas "records" orient, `[{column: value}, ...]`.

The Matbench id (`mb-expt-gap-0001`, the `mbid` column or index that
`matbench` gives every row) is an id, never an input.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.kit import DataError, reason

COMPRESSIONS: dict[bytes, tuple[str, Callable[[bytes], bytes]]] = {
    b"\x1f\x8b": ("gzip", gzip.decompress),
    b"BZh": ("bz2", bz2.decompress),
    b"\xfd7zXZ\x00": ("xz", lzma.decompress),
}
"""Magic bytes of the compressions matminer's `zopen` writes."""
ZIP = b"PK\x03\x04"

INPUT_COLUMNS = ("structure", "composition")
"""Matbench's two input types, as its tasks name their input column (structure first: a file
that holds both is a structure task with a composition added for convenience)."""

ID_COLUMN = "mbid"
MBID = re.compile(r"mb-[a-z0-9_()-]+-\d+")
"""A Matbench id: the task name with `matbench` shortened to `mb`, then the row number."""

MATBENCH_TARGETS = frozenset(
    {
        "e_form",
        "exfoliation_en",
        "gap expt",
        "gap pbe",
        "gfa",
        "is_metal",
        "last phdos peak",
        "log10(G_VRH)",
        "log10(K_VRH)",
        "n",
        "yield strength",
    }
)
"""The target columns of Matbench v0.1's 13 tasks (its dataset metadata). A file whose extra
columns (`spg_num`, `crys_sys` in the repository's files) leave the target ambiguous takes the
one of these it holds."""


@dataclass(frozen=True)
class TaskTable:
    """A task file's table, row-major, and how it was read."""

    columns: list[str]
    rows: list[list[Any]]
    index: list[Any] | None
    """The pandas index when the file has one (rows' keys in the dict layouts)."""
    layout: str
    compression: str

    def column(self, name: str) -> list[Any]:
        k = self.columns.index(name)
        return [row[k] for row in self.rows]


@dataclass(frozen=True)
class TaskColumns:
    input: str
    target: str
    id: str | None
    """The id column (`mbid`), or None when the ids are the index (or absent)."""


def read_task_table(path: Path) -> TaskTable:
    """The table of a Matbench task file, or one line naming the file and what it holds."""
    text, compression = _text(path)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{path}: not readable JSON ({reason(exc)})") from None
    columns, rows, index, layout = _layout(document, path)
    if len(columns) < 2:
        raise DataError(f"{path}: {len(columns)} column(s) {columns}; need an input and a target")
    if len(set(columns)) != len(columns):
        raise DataError(f"{path}: repeated column names {columns}")
    return TaskTable(columns, rows, index, layout, compression)


def _text(path: Path) -> tuple[str, str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: not readable ({reason(exc)})") from None
    if raw.startswith(ZIP):
        raise DataError(
            f"{path}: a zip archive (it starts with the bytes {raw[:4]!r}); unzip it and "
            "pass the JSON file inside"
        )
    compression = "none"
    for magic, (name, decompress) in COMPRESSIONS.items():
        if raw.startswith(magic):
            try:
                raw = decompress(raw)
            except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
                raise DataError(f"{path}: a corrupt {name} file ({reason(exc)})") from None
            compression = name
            break
    try:
        return raw.decode("utf-8-sig"), compression
    except UnicodeDecodeError:
        raise DataError(
            f"{path}: neither JSON text nor gzip, bz2 or xz compressed JSON "
            f"(it starts with the bytes {raw[:8]!r})"
        ) from None


EXPECTED = (
    "a pandas table: split orient {'index', 'columns', 'data'}, columns orient "
    "{column: {row: value}}, index orient or records orient"
)


def _layout(document: Any, path: Path) -> tuple[list[str], list[list[Any]], list[Any] | None, str]:
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        return _split(document, path)
    nested = isinstance(document, dict) and all(isinstance(v, dict) for v in document.values())
    if nested and document:
        outer = [str(k) for k in document]
        inner = [str(k) for k in next(iter(document.values()))]
        if _names_inputs(inner) and not _names_inputs(outer):  # rows outside: index orient
            return _from_rows(list(document.values()), outer, path, "index")
        return _from_columns(document, path)
    if isinstance(document, list) and document and all(isinstance(r, dict) for r in document):
        return _from_rows(document, None, path, "records")
    raise DataError(f"{path}: expected {EXPECTED}; found {_describe(document)}")


def _names_inputs(names: list[str]) -> bool:
    return any(name.lower() in INPUT_COLUMNS for name in names)


def _split(
    document: dict[str, Any], path: Path
) -> tuple[list[str], list[list[Any]], list[Any] | None, str]:
    columns, data, index = document.get("columns"), document["data"], document.get("index")
    if not isinstance(columns, list):
        raise DataError(f"{path}: split orient needs a 'columns' list; found {_describe(columns)}")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise DataError(
            f"{path}: split orient with {len(data)} data rows but an index of "
            f"{_describe(index)}; need one index entry per row"
        )
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise DataError(
                f"{path} data row {i}: expected {len(columns)} values ({columns}), "
                f"got {_describe(row)}"
            )
    layout = "tight" if "index_names" in document else "split"
    return [str(c) for c in columns], data, index, layout


def _from_columns(
    document: dict[str, Any], path: Path
) -> tuple[list[str], list[list[Any]], list[Any] | None, str]:
    columns = list(document)
    keys = list(document[columns[0]])
    for name in columns[1:]:
        if list(document[name]) != keys:
            raise DataError(
                f"{path}: columns orient, but column {name!r} has other rows than "
                f"{columns[0]!r} ({len(document[name])} against {len(keys)})"
            )
    rows = [[document[name][key] for name in columns] for key in keys]
    return [str(c) for c in columns], rows, keys, "columns"


def _from_rows(
    records: list[Any], index: list[Any] | None, path: Path, layout: str
) -> tuple[list[str], list[list[Any]], list[Any] | None, str]:
    columns = list(records[0])
    for i, record in enumerate(records):
        if list(record) != columns:
            where = f"row {index[i]!r}" if index else f"record {i}"
            raise DataError(
                f"{path} {where}: {layout} orient, but its columns {list(record)} "
                f"differ from the first row's {columns}"
            )
    rows = [[record[name] for name in columns] for record in records]
    return [str(c) for c in columns], rows, index, layout


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = sorted(str(k) for k in value)
        more = f" and {len(keys) - 6} more" if len(keys) > 6 else ""
        return f"an object with keys {keys[:6]}{more}"
    if isinstance(value, list):
        kinds = sorted({type(v).__name__ for v in value[:100]})
        return f"a list of {len(value)} ({', '.join(kinds) or 'empty'})"
    return f"{type(value).__name__} {value!r:.40}"


def task_columns(table: TaskTable, target: str | None, path: Path) -> TaskColumns:
    """Which column is the input, the target and the id. The target is `target` when given,
    else the one column left besides input and id, else the one Matbench target name among
    those left; anything else is one line asking for it."""
    id_column = next((c for c in table.columns if _is_id_column(table, c)), None)
    named = [c for c in table.columns if c.lower() in INPUT_COLUMNS]
    named.sort(key=lambda c: INPUT_COLUMNS.index(c.lower()))
    others = [c for c in table.columns if c != id_column]
    input_column = named[0] if named else others[0]
    candidates = [c for c in others if c != input_column]
    if target is not None:
        if target not in candidates:
            raise DataError(
                f"{path}: target column {target!r} not among the data columns {candidates} "
                f"(input column {input_column!r})"
            )
        return TaskColumns(input_column, target, id_column)
    known = [c for c in candidates if c in MATBENCH_TARGETS]
    if len(candidates) == 1:
        return TaskColumns(input_column, candidates[0], id_column)
    if len(known) == 1:
        return TaskColumns(input_column, known[0], id_column)
    raise DataError(
        f"{path}: which column is the target? The file holds {candidates} besides the input "
        f"{input_column!r}; name it with --target (source parameter 'target')"
    )


def _is_id_column(table: TaskTable, name: str) -> bool:
    if name.lower() == ID_COLUMN:
        return True
    sample = table.column(name)[:20]
    return bool(sample) and all(isinstance(v, str) and MBID.fullmatch(v) for v in sample)
