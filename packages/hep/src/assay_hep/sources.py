"""Data sources: jets generated with Pythia8 + FastJet, and a user's jet files.

Both store one ROOT file per split (`train.root`, `valid.root`,
`test.root`, JetClass branch names, TTree `tree`) in the core cache and load
them back through the same reader a user's files go through. The dataset's
inputs are an awkward array of jets (JetClass fields), targets are class
indices in the order of `classes`, and the partition names each row's split.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import uproot  # type: ignore[import-untyped]
from assay.kit import (
    DataError,
    Dataset,
    DatasetMetadata,
    ExportView,
    FingerprintParams,
    Source,
    SourceParams,
    UserFileSource,
    read_json,
    write_json,
)
from pydantic import Field, field_validator

from assay_hep.chunks import SPLITS, Columns, chunk_seed, concat_chunks, ensure_chunks
from assay_hep.features import jet_kinematics, wrap_phi
from assay_hep.generator import PROCESSES, ChunkSpec, physics_versions
from assay_hep.readers import JetChunk, expand_paths, read_jet_files, write_jets_root

GENERATED_LICENCE = (
    "generated data (no licence restriction); Pythia8 and FastJet are GPL-2.0-or-later"
)
GENERATOR_VERSION = "2"  # 2: ROOT baskets of 10,000 jets (1 wrote one basket per branch)


class PythiaParams(SourceParams):
    classes: list[str] = Field(default_factory=lambda: ["QCD", "Tbqq"])
    """JetClass labels, two or more, once each in the order of `PROCESSES` (QCD first):
    class indices carry meaning (QCD is the background, per-class metrics are named by
    position), so one order for every subset."""
    pt_min: float = 550.0
    pt_max: float = 650.0
    eta_max: float = 2.0
    pthat_min: float = 500.0
    pthat_max: float = 700.0
    max_particles: int = Field(default=128, ge=1)
    chunk_jets: int = Field(default=250, ge=1)
    seed: int = 1
    """Base seed (< 6000)."""
    train: int = Field(default=1000, ge=1)
    """Jets per class in the training split."""
    valid: int = Field(default=200, ge=0)
    test: int = Field(default=500, ge=1)

    @field_validator("classes")
    @classmethod
    def _jetclass_order(cls, classes: list[str]) -> list[str]:
        bad = [c for c in classes if c not in PROCESSES]
        if bad or len(classes) < 2:
            raise ValueError(f"needs two or more of {list(PROCESSES)}, got {classes}")
        in_order = sorted(classes, key=list(PROCESSES).index)
        if classes != in_order or len(set(classes)) != len(classes):
            raise ValueError(f"list them once each in the order {list(PROCESSES)}, e.g. {in_order}")
        return classes


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


def _split_files(files_dir: Path) -> list[tuple[str, Path]]:
    return [(s, files_dir / f"{s}.root") for s in SPLITS if (files_dir / f"{s}.root").is_file()]


def _dataset_from_files(
    files_dir: Path, classes: Sequence[str], metadata: DatasetMetadata
) -> Dataset:
    jets, targets, partition = [], [], []
    for split, path in _split_files(files_dir):
        chunk = read_jet_files(path)
        jets.append(chunk.jets)
        targets.append(_class_index(chunk, classes))
        partition.append(np.full(len(chunk), split))
    if not jets:
        raise DataError(f"{files_dir}: no split files (train.root, test.root) found")
    return Dataset(
        inputs=ak.concatenate(jets) if len(jets) > 1 else jets[0],
        targets=np.concatenate(targets),
        metadata=metadata,
        partition=np.concatenate(partition).astype(np.str_),
        extras={},
    )


def _class_index(chunk: JetChunk, classes: Sequence[str]) -> npt.NDArray[np.int64]:
    missing = [c for c in classes if c not in chunk.label_names]
    if missing:
        raise DataError(
            f"{chunk.source}: no 'label_{missing[0]}' branch (labels there: "
            f"{list(chunk.label_names)})"
        )
    columns = [chunk.label_names.index(c) for c in classes]
    onehot = chunk.labels[:, columns]
    if np.any(onehot.sum(axis=1) != 1):
        bad = int(np.flatnonzero(onehot.sum(axis=1) != 1)[0])
        raise DataError(
            f"{chunk.source}: jet {bad} belongs to none or several of the classes {list(classes)}"
        )
    return np.asarray(np.argmax(onehot, axis=1), dtype=np.int64)


def root_columns(columns: Columns, label: str, classes: Sequence[str]) -> Columns:
    """Generator output -> JetClass branches (float32 particles, jet columns, one-hot labels)."""
    counts = columns["counts"]
    p4 = columns["jet_p4"]
    kin = jet_kinematics(p4[:, 0], p4[:, 1], p4[:, 2], p4[:, 3])
    out: Columns = {"counts": counts}
    for name in ("px", "py", "pz", "energy"):
        out[f"part_{name}"] = columns[f"part_{name}"].astype(np.float32)
    pt = np.hypot(columns["part_px"], columns["part_py"])
    jet_of = np.repeat(np.arange(len(counts)), counts)
    eta = np.arcsinh(columns["part_pz"] / np.maximum(pt, 1e-8))
    out["part_deta"] = (eta - kin["jet_eta"][jet_of]).astype(np.float32)
    phi = np.arctan2(columns["part_py"], columns["part_px"])
    out["part_dphi"] = wrap_phi(phi - kin["jet_phi"][jet_of]).astype(np.float32)
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_energy"):
        out[name] = kin[name].astype(np.float32)
    out["jet_nparticles"] = columns["n_all_particles"].astype(np.float32)
    out["jet_sdmass"] = columns["jet_sdmass"].astype(np.float32)
    for k in range(1, 5):
        out[f"jet_tau{k}"] = columns[f"jet_tau{k}"].astype(np.float32)
    for name in classes:
        out[f"label_{name}"] = np.full(len(counts), name == label, dtype=np.int32)
    return out


def _merge(parts: Sequence[Columns]) -> Columns:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class PythiaJetSource(Source[PythiaParams]):
    """Jets generated with Pythia8 (14 TeV, no MPI, no pile-up) and FastJet (anti-kT R=0.8).

    Parameters (`PythiaParams`): `classes` (JetClass labels: QCD, Tbqq, Wqq, Zqq,
    Hbb), jet `pt_min`/`pt_max`/`eta_max`, the hard process `pthat_min`/`pthat_max`,
    `max_particles`, `chunk_jets`, `seed` (base seed, < 6000), and jets per class in
    `train`, `valid`, `test`.
    """

    name = "hep.pythia"
    version = GENERATOR_VERSION
    params_model = PythiaParams

    def generator_versions(self) -> dict[str, str]:
        return {**physics_versions(), "uproot": str(uproot.__version__)}

    def export_view(self, dataset: Dataset, params: PythiaParams) -> ExportView:
        from assay_hep.export import jet_view

        return jet_view(dataset, params.classes)

    def chunk_specs(self, params: PythiaParams, label: str, split: str) -> list[ChunkSpec]:
        jets: int = getattr(params, split)
        return [
            ChunkSpec(
                label=label,
                seed=chunk_seed(params.seed, label, split, i),
                n_jets=params.chunk_jets,
                pt_min=params.pt_min,
                pt_max=params.pt_max,
                eta_max=params.eta_max,
                pthat_min=params.pthat_min,
                pthat_max=params.pthat_max,
                max_particles=params.max_particles,
            )
            for i in range(math.ceil(jets / params.chunk_jets))
        ]

    def prepare(self, params: PythiaParams, out_dir: Path) -> None:
        classes = params.classes
        plan = [
            (split, label, spec)
            for split in SPLITS
            for label in classes
            for spec in self.chunk_specs(params, label, split)
        ]
        chunks = ensure_chunks([spec for _, _, spec in plan])
        efficiency: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            parts = []
            for label in classes:
                mine = [
                    c
                    for (s, lab, _), c in zip(plan, chunks, strict=True)
                    if (s, lab) == (split, label)
                ]
                if not mine:
                    continue
                columns = concat_chunks(mine, int(getattr(params, split)))
                efficiency.setdefault(split, {})[label] = int(columns["n_events"][0])
                parts.append(root_columns(columns, label, classes))
            if parts:
                write_jets_root(out_dir / f"{split}.root", _merge(parts))
        write_json(out_dir / "generation.json", {"events_per_class": efficiency})

    def load(self, params: PythiaParams, files_dir: Path) -> Dataset:
        info = read_json(files_dir / "generation.json")
        metadata = DatasetMetadata(
            name=f"pythia-jets-{'-'.join(params.classes)}",
            version=GENERATOR_VERSION,
            provenance=(
                "Generated here: Pythia8 (pythia8mc) pp at 14 TeV, no MPI, no pile-up, no detector "
                "simulation; FastJet anti-kT R=0.8 on visible final-state particles; "
                f"{params.pt_min}<pT<{params.pt_max} GeV, |eta|<{params.eta_max}, "
                f"pTHat {params.pthat_min}-{params.pthat_max} GeV; truth-matched signal jets"
            ),
            licence=GENERATED_LICENCE,
            notes=(f"events generated per class: {info['events_per_class']}",),
        )
        return _dataset_from_files(files_dir, params.classes, metadata)


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
        _class_index(chunk, params.classes)  # fail before writing when labels do not fit
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
        return _dataset_from_files(files_dir, params.classes, metadata)


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
