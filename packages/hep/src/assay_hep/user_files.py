"""A user's jet files: JetClass-layout ROOT (TTree or RNTuple) or TopLandscape HDF5, per split.

They are read once, chunk by chunk, through `assay_hep.readers` and cached as the
same ROOT files the generated jets of `assay_hep.sources` are stored in, so both
load alike.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import awkward as ak  # type: ignore[import-untyped]
import numpy as np
from assay.kit import (
    DataError,
    Dataset,
    DatasetMetadata,
    ExportView,
    FingerprintParams,
    UserFileSource,
)
from pydantic import Field, field_validator

from assay_hep.chunks import SPLITS, Columns
from assay_hep.readers import JetChunk, expand_paths, read_jet_files, write_jets_root
from assay_hep.sources import (
    GENERATED_LICENCE,
    PythiaJetSource,
    PythiaParams,
    class_index,
    dataset_from_files,
)


class JetFileParams(FingerprintParams):
    """Each split: a path, a glob, a list of them, or "example"; `fingerprint` (see
    `assay.data.user_files.FingerprintParams`)."""

    train: str | list[str]
    """the training jets (a path, glob or list of them)"""
    test: str | list[str]
    """the test jets (a path, glob or list of them)"""
    valid: str | list[str] | None = None
    """validation jets; without them the protocol carves them from the training jets"""
    classes: list[str] = Field(default_factory=lambda: ["QCD", "Tbqq"])
    """label names, the first the background: QCD first when listed"""
    tree: str = "tree"
    max_jets: int | None = Field(default=None, ge=1)

    @field_validator("classes")
    @classmethod
    def _qcd_is_the_background(cls, classes: list[str]) -> list[str]:
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"needs two or more distinct labels, got {classes}")
        # Class 0 is the background the rejections (1/eps_B) count, so QCD cannot be a signal.
        if "QCD" in classes and classes[0] != "QCD":
            first = ["QCD", *(c for c in classes if c != "QCD")]
            raise ValueError(
                f"list 'QCD' first (class 0 is the background that 1/eps_B counts), "
                f"e.g. {first}; got {classes}"
            )
        return classes


EXAMPLE = "example"
EXAMPLE_PARAMS = PythiaParams(train=500, valid=250, test=250)
"""`train = "example"` reads top-tagging jets generated here (the first quick chunks)."""


def files_to_read(params: JetFileParams) -> dict[str, str | list[str]]:
    """Split -> what to read: the shipped example everywhere, or only the user's files.

    The scenario's defaults say "example" for every split and `--set` replaces
    only some; a user who gives `train` and `test` leaves `valid` at "example".
    Generated jets never join a user's files: once train and test are files,
    a split left at "example" is dropped (validation jets then come from the
    training file), and an example train or test beside a user's file is refused.
    """
    given: dict[str, str | list[str]] = {
        split: where for split in SPLITS if (where := getattr(params, split)) is not None
    }
    examples = [split for split, where in given.items() if where == EXAMPLE]
    if len(examples) == len(given):
        return given
    mixed = [split for split in ("train", "test") if split in examples]
    if mixed:
        yours = next(split for split in given if split not in examples)
        raise DataError(
            f"hep.files: '{yours}' is your file but '{mixed[0]}' is the generated example; "
            f"set {' and '.join(repr(m) for m in mixed)} to your files too "
            f"(generated jets never join your files)"
        )
    return {split: where for split, where in given.items() if where != EXAMPLE}


class JetFileSource(UserFileSource[JetFileParams]):
    """A user's jet files: JetClass/our ROOT files or TopLandscape HDF5, per split.

    Parameters (`JetFileParams`): `train`, `test` (and optional `valid`): a path, a glob or a
    list of them, or "example" for all of them (a small top-tagging set
    generated here and read back through the same reader; see
    `files_to_read`); `classes` (label names, default QCD and Tbqq; the first
    is the background, so QCD comes first when listed); `tree` (default
    `tree`); `max_jets` per split (default: all). Without `valid`, the
    validation jets are carved from the training file by the protocol.
    The jets are read once, chunk by chunk, and cached as our ROOT files. The
    cache key holds each file's sha256 while the files together hold at most
    1 GiB, and above that (or with `fingerprint = "size-mtime"`) each file's
    path, size and modification time: a sha256 of 100 GB of JetClass on every
    run would take longer than the benchmark. `fingerprint = "sha256"` hashes
    them whatever their size.
    """

    name = "hep.files"
    version = "2"  # 2: no generated "valid" beside a user's train and test (1 added them)
    params_model = JetFileParams
    size_mtime_above = 2**30

    def input_files(self, params: JetFileParams) -> list[Path]:
        """Every jet file the splits' paths and globs expand to (none for the example)."""
        return [
            path.resolve()
            for where in files_to_read(params).values()
            if where != EXAMPLE
            for path in expand_paths(where)
        ]

    def prepare(self, params: JetFileParams, out_dir: Path) -> None:
        splits = files_to_read(params)
        with tempfile.TemporaryDirectory() as scratch:
            if EXAMPLE in splits.values():  # then every split is the example
                PythiaJetSource().prepare(EXAMPLE_PARAMS, Path(scratch))
            for split, where in splits.items():
                source = Path(scratch) / f"{split}.root" if where == EXAMPLE else where
                self._copy(source, params, out_dir / f"{split}.root")

    def _copy(self, where: Any, params: JetFileParams, out: Path) -> None:
        chunk = read_jet_files(where, tree=params.tree, max_jets=params.max_jets)
        class_index(chunk, params.classes)  # fail before writing when labels do not fit
        write_jets_root(out, chunk_columns(chunk))

    def export_view(self, dataset: Dataset, params: JetFileParams) -> ExportView:
        from assay_hep.export import jet_view

        return jet_view(dataset, params.classes)

    def load(self, params: JetFileParams, files_dir: Path) -> Dataset:
        splits = files_to_read(params)
        if EXAMPLE in splits.values():  # then every split is the example
            counts = ", ".join(
                f"{getattr(EXAMPLE_PARAMS, split)} {split}" for split in ("train", "valid", "test")
            )
            metadata = DatasetMetadata(
                name="example-jets",
                version="1",
                provenance=f"top-tagging jets generated here with Pythia8 + FastJet ({counts} "
                "jets per class), read back as a user's files are",
                licence=GENERATED_LICENCE,
            )
        else:
            given = "; ".join(f"{split}: {where}" for split, where in splits.items())
            metadata = self.user_metadata(
                params, files_dir, name="user-jets", what="user jet files", details=given
            )
        return dataset_from_files(files_dir, params.classes, metadata)


def chunk_columns(chunk: JetChunk) -> Columns:
    """A read chunk back to flat columns for `write_jets_root` (round-trips exactly)."""
    jets = chunk.jets
    particle_fields = [f for f in jets.fields if f.startswith("part_")]
    out: Columns = {"counts": ak.to_numpy(ak.num(jets[particle_fields[0]])).astype(np.int64)}
    for name in jets.fields:
        values = jets[name]
        out[name] = ak.to_numpy(ak.flatten(values) if name in particle_fields else values)
    for k, label in enumerate(chunk.label_names):
        out[f"label_{label}"] = chunk.labels[:, k].astype(np.int32)
    return out
