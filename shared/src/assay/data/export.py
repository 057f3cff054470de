"""What a dataset looks like outside Assay: named columns and domain files.

`assay data export` writes a scenario's prepared data in open formats and
describes it in Croissant. The writer is one (`assay.publish.croissant`); what
differs between domains is how a row's inputs become columns or files, and
that is the one hook a source may override, `Source.export_view`:

- numeric arrays become columns (`x0`, `x1`, ... up to `WIDE_COLUMNS`
  features, one list column beyond that, or for arrays of more dimensions);
- strings (SMILES, sequences) become one text column;
- anything else (structures, jets, syndromes) needs the source's own view:
  columns it can name, plus files in its field's format (extxyz, ROOT) that
  the Croissant description lists with their checksums.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from assay.errors import DataError

if TYPE_CHECKING:  # the Source's export hook imports this module: no cycle at run time
    from assay.data.dataset import Dataset

WIDE_COLUMNS = 64
"""Features beyond which a numeric matrix is one list column rather than a column each."""


@dataclass(frozen=True)
class Ragged:
    """Lists of numbers of differing lengths (a jet's particles): row i holds
    `flat[offsets[i]:offsets[i + 1]]`."""

    offsets: npt.NDArray[np.int64]
    flat: npt.NDArray[Any]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, i: int) -> npt.NDArray[Any]:
        return self.flat[self.offsets[i] : self.offsets[i + 1]]


@dataclass(frozen=True)
class ExportColumn:
    """One field of every row: `values` holds a scalar per row (a 1-D array), an equally
    long list per row (a 2-D array), or a list of its own length per row (`Ragged`)."""

    name: str
    values: Any
    description: str


@dataclass(frozen=True)
class ExportFile:
    """A file in the field's own format, written beside the tables (rows in dataset order)."""

    name: str
    encoding_format: str
    """A MIME type, e.g. `chemical/x-extxyz` or `application/x-root`."""
    description: str
    write: Callable[[Path], None]


@dataclass(frozen=True)
class ExportView:
    """A dataset's inputs as columns (and files), plus what its target and extras mean."""

    inputs: tuple[ExportColumn, ...]
    files: tuple[ExportFile, ...] = ()
    target_description: str = ""
    extras: tuple[ExportColumn, ...] | None = None
    """The row annotations to write; None: every extra the default can write."""
    notes: tuple[str, ...] = field(default_factory=tuple)


def is_text(values: Any) -> bool:
    array = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if array.ndim != 1:
        return False
    if array.dtype.kind in "US":
        return True
    return array.dtype == object and all(isinstance(v, str) for v in array)


def array_columns(
    values: npt.NDArray[Any], *, name: str, description: str, wide: int = WIDE_COLUMNS
) -> tuple[ExportColumn, ...]:
    """A numeric array as columns: a 1-D one as `name`, up to `wide` features as
    `name0`, `name1`, ..., wider or higher-dimensional ones as one list column `name`
    (each row flattened in C order; the description names the shape)."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise DataError(f"{name}: cannot export an array of dtype {array.dtype} as numbers")
    if array.ndim == 1:
        return (ExportColumn(name, array, description),)
    if array.ndim == 2 and array.shape[1] <= wide:
        return tuple(
            ExportColumn(f"{name}{k}", array[:, k], f"{description}: column {k}")
            for k in range(array.shape[1])
        )
    shape = "x".join(str(d) for d in array.shape[1:])
    flat = array.reshape(len(array), -1)
    return (
        ExportColumn(name, flat, f"{description} ({shape} values per row, flattened in C order)"),
    )


def default_columns(values: Any, *, name: str, description: str) -> tuple[ExportColumn, ...]:
    """Numbers or strings as columns; anything else is one line naming its type."""
    if is_text(values):
        return (ExportColumn(name, np.asarray(values, dtype=object), description),)
    columns = getattr(values, "columns", None)
    if columns is not None:  # a pandas DataFrame: its own column names
        return tuple(
            ExportColumn(str(c), values[c].to_numpy(), f"{description}: column {c}")
            for c in columns
        )
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return array_columns(values, name=name, description=description)
    raise DataError(
        f"{name}: {type(values).__name__} values have no default export; the source "
        "exports them through its `export_view`"
    )


def default_extras(dataset: Dataset) -> tuple[ExportColumn, ...]:
    """Every extra that is numbers or strings per row; others (objects) are left out."""
    out: list[ExportColumn] = []
    for key, values in sorted(dataset.extras.items()):
        try:
            out += default_columns(values, name=key, description=f"row annotation '{key}'")
        except DataError:
            continue
    return tuple(out)


def default_view(dataset: Dataset, *, input_name: str = "x", described: str = "") -> ExportView:
    """The view of a dataset whose inputs are numbers or strings."""
    description = described or "input feature"
    return ExportView(
        inputs=default_columns(dataset.inputs, name=input_name, description=description),
    )


def extras_of(view: ExportView, dataset: Dataset) -> tuple[ExportColumn, ...]:
    return view.extras if view.extras is not None else default_extras(dataset)


def named_columns(
    values: npt.NDArray[Any], names: Mapping[str, str] | list[tuple[str, str]]
) -> tuple[ExportColumn, ...]:
    """Columns of a 2-D array with a (name, meaning) per column."""
    pairs = list(names.items()) if isinstance(names, Mapping) else names
    if values.ndim != 2 or values.shape[1] != len(pairs):
        raise DataError(f"{len(pairs)} column names for an array of shape {values.shape}")
    return tuple(
        ExportColumn(name, values[:, k], meaning) for k, (name, meaning) in enumerate(pairs)
    )
