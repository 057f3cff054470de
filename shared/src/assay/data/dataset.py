"""Datasets and the Source interface.

A `Dataset` holds inputs of any kind (numeric arrays, SMILES object arrays,
awkward arrays, AnnData, lists of circuits), targets, optional groups and a
fixed partition, plus metadata with provenance and licence. `subset` works
whatever the inputs are.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

import numpy as np
import numpy.typing as npt

from assay.errors import DataError
from assay.params import Params, parse_params

if TYPE_CHECKING:
    from assay.data.export import ExportView

IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DatasetMetadata:
    """Where the data came from. Provenance and licence are required, never guessed."""

    name: str
    version: str
    provenance: str
    licence: str
    sha256: str = ""
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.provenance.strip() or not self.licence.strip():
            raise DataError(f"dataset '{self.name}': provenance and licence must both be given")


def take(obj: Any, indices: IndexArray) -> Any:
    """Select rows `indices` of any supported container, keeping its type."""
    if isinstance(obj, np.ndarray):
        return obj[indices]
    iloc = getattr(obj, "iloc", None)
    if iloc is not None:  # pandas DataFrame / Series
        return iloc[indices]
    if isinstance(obj, list | tuple):
        return type(obj)(obj[int(i)] for i in indices)
    # awkward arrays, AnnData, torch tensors and most array-likes accept integer arrays.
    return obj[indices]


@dataclass(frozen=True)
class Dataset:
    """Inputs, targets and everything a split or a model may need, row-aligned."""

    inputs: Any
    targets: npt.NDArray[Any] | None
    metadata: DatasetMetadata
    groups: npt.NDArray[Any] | None = None
    partition: npt.NDArray[np.str_] | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    task: str | None = None
    """The scenario's task type (set by the runner) so one model can serve several tasks."""
    ids: npt.NDArray[Any] | None = None
    """Each row's identifier in its field (a circuit's file, a sample's name), written beside
    the predictions; None: the inputs themselves where they are strings (SMILES)."""

    def __post_init__(self) -> None:
        n = len(self)
        for name, column in self._row_aligned().items():
            if len(column) != n:
                raise DataError(
                    f"dataset '{self.metadata.name}': {name} has {len(column)} rows, "
                    f"inputs have {n}"
                )

    def __len__(self) -> int:
        shape = getattr(self.inputs, "shape", None)
        return int(shape[0]) if shape is not None else len(self.inputs)

    def _row_aligned(self) -> dict[str, Any]:
        columns: dict[str, Any] = {f"extras['{k}']": v for k, v in self.extras.items()}
        for name in ("targets", "groups", "partition", "ids"):
            value = getattr(self, name)
            if value is not None:
                columns[name] = value
        return columns

    def row_ids(self) -> npt.NDArray[Any] | None:
        """`ids`, or string inputs (SMILES, sequences) standing for themselves; else None."""
        if self.ids is not None:
            return self.ids
        inputs = self.inputs
        textual = isinstance(inputs, np.ndarray) and inputs.ndim == 1 and inputs.dtype.kind in "OUS"
        if textual and all(isinstance(v, str) for v in inputs[:100]):
            return np.asarray(inputs)
        return None

    def without_targets(self) -> Dataset:
        """The same rows with the targets removed: what a model predicts on."""
        return replace(self, targets=None)

    def subset(self, indices: Sequence[int] | IndexArray) -> Dataset:
        """The rows `indices`, in that order, with every row-aligned field cut alike."""
        idx = np.asarray(indices, dtype=np.int64)
        return replace(
            self,
            inputs=take(self.inputs, idx),
            targets=None if self.targets is None else self.targets[idx],
            groups=None if self.groups is None else self.groups[idx],
            partition=None if self.partition is None else self.partition[idx],
            ids=None if self.ids is None else self.ids[idx],
            extras={k: take(v, idx) for k, v in self.extras.items()},
        )


class SourceParams(Params):
    """Base of a source's parameter model (`assay.params.Params`): unknown keys are errors,
    values are checked as given. A source names its model as `params_model`; the core parses
    a scenario's values once and hands the parsed object to `prepare`, `load`,
    `fingerprint` and `export_view`."""


SourceParamsT = TypeVar("SourceParamsT", bound=SourceParams)


class Source(ABC, Generic[SourceParamsT]):
    """Produces a dataset reproducibly from parameters.

    `prepare` writes files into an empty folder (the core cache makes it atomic
    and records checksums); `load` reads them back. Generated sources are
    `rebuildable`: a cache entry that fails its checksum is generated again.
    A source that copies a user's file is not: a mismatch is refused.

    `Source[XParams]` with `params_model = XParams`: every method gets the parsed
    `XParams`, defaults filled in; the cache key still hashes the values as given.
    """

    name: str
    version: str = "1"
    rebuildable: bool = True
    params_model: ClassVar[type[SourceParams]] = SourceParams
    """The parameters this source takes (the base: none)."""

    def generator_versions(self) -> dict[str, str]:
        """Versions of the libraries that produce the data; they are part of the cache key."""
        return {}

    def validate_params(self, params: Mapping[str, Any]) -> SourceParamsT:
        """The values as given, parsed against `params_model` (one `DataError` line naming
        the key on a bad one), then `check_inputs`: what every other method gets."""
        parsed = cast(SourceParamsT, parse_params(self.name, self.params_model, params))
        self.check_inputs(parsed)
        return parsed

    def check_inputs(self, params: SourceParamsT) -> None:
        """Checks that need more than the values (a file that must exist), before anything
        is written; raise `DataError`. Checks of the values themselves are validators of
        `params_model`."""
        del params

    def fingerprint(self, params: SourceParamsT) -> str:
        """Extra cache-key content; a user-file source returns the file's sha256 so edits show."""
        del params
        return ""

    @abstractmethod
    def prepare(self, params: SourceParamsT, out_dir: Path) -> None:
        """Write the dataset's files into `out_dir` (deterministically, given `params`)."""

    @abstractmethod
    def load(self, params: SourceParamsT, files_dir: Path) -> Dataset:
        """Read the files `prepare` wrote into a `Dataset`."""

    def export_view(self, dataset: Dataset, params: SourceParamsT) -> ExportView:
        """The dataset's inputs as named columns (and files in the field's format) for
        `assay data export`. The default handles numbers and strings; a source whose inputs
        are domain objects (structures, jets) overrides it."""
        from assay.data.export import default_view

        del params
        return default_view(dataset)


class DescribedSource(Source[SourceParamsT]):
    """A source whose data card is its `describe` (name, provenance, licence) with the
    notes that `prepare` stored (curation counts, skipped rows)."""

    def describe(self, params: SourceParamsT) -> tuple[str, str, str]:
        """(dataset name, provenance, licence); a source that builds its card another way
        (a user's file) overrides `dataset_metadata` instead."""
        raise NotImplementedError(f"{type(self).__name__} does not describe its data")

    def dataset_metadata(
        self, params: SourceParamsT, files_dir: Path, notes: Sequence[str]
    ) -> DatasetMetadata:
        """The data card `load` attaches to the dataset."""
        del files_dir
        name, provenance, licence = self.describe(params)
        return DatasetMetadata(
            name=name,
            version=self.version,
            provenance=provenance,
            licence=licence,
            notes=tuple(notes),
        )


# Deterministic writers: the same data must give the same bytes, hence the same sha256.


def write_array(path: Path, array: npt.NDArray[Any]) -> None:
    """Save one numeric array as `.npy` (byte-identical for identical arrays)."""
    if array.dtype == object:
        raise DataError(f"{path.name}: object arrays are not stored as .npy; use write_json")
    np.save(path, array, allow_pickle=False)


def read_array(path: Path) -> npt.NDArray[Any]:
    try:
        return np.load(path, allow_pickle=False)  # type: ignore[no-any-return]
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, sort_keys=True, separators=(",", ":")), encoding="utf-8")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc})") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stable_hash(value: Any) -> str:
    """sha256 of a JSON-serialisable value, independent of dict order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
