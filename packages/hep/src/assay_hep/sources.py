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
from collections.abc import Mapping, Sequence
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
    Source,
    SourceParams,
    UserFileSource,
    read_json,
    write_json,
)
from pydantic import Field

from assay_hep.chunks import SPLITS, Columns, chunk_seed, concat_chunks, ensure_chunks
from assay_hep.features import jet_kinematics, wrap_phi
from assay_hep.generator import PROCESSES, ChunkSpec, physics_versions
from assay_hep.readers import JetChunk, expand_paths, read_jet_files, write_jets_root

GENERATOR_VERSION = "2"  # 2: ROOT baskets of 10,000 jets (1 wrote one basket per branch)
GENERATED_DEFAULTS: dict[str, Any] = {
    "classes": ["QCD", "Tbqq"],
    "pt_min": 550.0,
    "pt_max": 650.0,
    "eta_max": 2.0,
    "pthat_min": 500.0,
    "pthat_max": 700.0,
    "max_particles": 128,
    "chunk_jets": 250,
    "seed": 1,
    "train": 1000,
    "valid": 200,
    "test": 500,
}
"""Jets per class and split in `train`, `valid`, `test`."""


class PythiaParams(SourceParams):
    classes: list[str] = GENERATED_DEFAULTS["classes"]
    pt_min: float = GENERATED_DEFAULTS["pt_min"]
    pt_max: float = GENERATED_DEFAULTS["pt_max"]
    eta_max: float = GENERATED_DEFAULTS["eta_max"]
    pthat_min: float = GENERATED_DEFAULTS["pthat_min"]
    pthat_max: float = GENERATED_DEFAULTS["pthat_max"]
    max_particles: int = Field(default=GENERATED_DEFAULTS["max_particles"], ge=1)
    chunk_jets: int = Field(default=GENERATED_DEFAULTS["chunk_jets"], ge=1)
    seed: int = GENERATED_DEFAULTS["seed"]
    train: int = Field(default=GENERATED_DEFAULTS["train"], ge=0)
    valid: int = Field(default=GENERATED_DEFAULTS["valid"], ge=0)
    test: int = Field(default=GENERATED_DEFAULTS["test"], ge=0)


class JetFileParams(SourceParams):
    """`train`, `test` (required) and `valid`: a path, a glob, a list of them, or "example"."""

    train: str | list[str] | None = None
    valid: str | list[str] | None = None
    test: str | list[str] | None = None
    classes: list[str] | None = None
    tree: str = "tree"
    max_jets: int | None = Field(default=None, ge=1)


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


class PythiaJetSource(Source):
    """Jets generated with Pythia8 (14 TeV, no MPI, no pile-up) and FastJet (anti-kT R=0.8).

    Parameters (defaults in `GENERATED_DEFAULTS`): `classes` (JetClass labels:
    QCD, Tbqq, Wqq, Zqq, Hbb), jet `pt_min`/`pt_max`/`eta_max`, the hard
    process `pthat_min`/`pthat_max`, `max_particles`, `chunk_jets`, `seed`
    (base seed, < 6000), and jets per class in `train`, `valid`, `test`.
    """

    name = "hep.pythia"
    version = GENERATOR_VERSION

    def generator_versions(self) -> dict[str, str]:
        return {**physics_versions(), "uproot": str(uproot.__version__)}

    def _params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {**GENERATED_DEFAULTS, **params}

    def export_view(self, dataset: Dataset, params: Mapping[str, Any]) -> ExportView:
        from assay_hep.export import jet_view

        return jet_view(dataset, self._params(params)["classes"])

    params_model = PythiaParams

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        full = self._params(params)
        classes = list(full["classes"])
        bad = [c for c in classes if c not in PROCESSES]
        if bad or len(classes) < 2:
            raise DataError(
                f"hep.pythia: 'classes' needs two or more of {list(PROCESSES)}, got {classes}"
            )
        # Class indices carry meaning: QCD is the background (class 0) and the
        # per-class metrics are named by position, so one order for every subset.
        in_order = sorted(classes, key=list(PROCESSES).index)
        if classes != in_order or len(set(classes)) != len(classes):
            raise DataError(
                f"hep.pythia: list 'classes' once each in the order {list(PROCESSES)}, "
                f"e.g. {in_order}; got {classes}"
            )
        if int(full["train"]) == 0 or int(full["test"]) == 0:
            raise DataError("hep.pythia: 'train' and 'test' need at least one jet per class")

    def chunk_specs(self, params: Mapping[str, Any], label: str, split: str) -> list[ChunkSpec]:
        full = self._params(params)
        n_chunks = math.ceil(int(full[split]) / int(full["chunk_jets"]))
        return [
            ChunkSpec(
                label=label,
                seed=chunk_seed(int(full["seed"]), label, split, i),
                n_jets=int(full["chunk_jets"]),
                pt_min=float(full["pt_min"]),
                pt_max=float(full["pt_max"]),
                eta_max=float(full["eta_max"]),
                pthat_min=float(full["pthat_min"]),
                pthat_max=float(full["pthat_max"]),
                max_particles=int(full["max_particles"]),
            )
            for i in range(n_chunks)
        ]

    def prepare(self, params: Mapping[str, Any], out_dir: Path) -> None:
        full = self._params(params)
        classes = list(full["classes"])
        plan = [
            (split, label, spec)
            for split in SPLITS
            for label in classes
            for spec in self.chunk_specs(full, label, split)
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
                columns = concat_chunks(mine, int(full[split]))
                efficiency.setdefault(split, {})[label] = int(columns["n_events"][0])
                parts.append(root_columns(columns, label, classes))
            if parts:
                write_jets_root(out_dir / f"{split}.root", _merge(parts))
        write_json(out_dir / "generation.json", {"events_per_class": efficiency})

    def load(self, params: Mapping[str, Any], files_dir: Path) -> Dataset:
        full = self._params(params)
        info = read_json(files_dir / "generation.json")
        metadata = DatasetMetadata(
            name=f"pythia-jets-{'-'.join(full['classes'])}",
            version=GENERATOR_VERSION,
            provenance=(
                "Generated here: Pythia8 (pythia8mc) pp at 14 TeV, no MPI, no pile-up, no detector "
                "simulation; FastJet anti-kT R=0.8 on visible final-state particles; "
                f"{full['pt_min']}<pT<{full['pt_max']} GeV, |eta|<{full['eta_max']}, "
                f"pTHat {full['pthat_min']}-{full['pthat_max']} GeV; truth-matched signal jets"
            ),
            licence="generated data (no licence restriction); Pythia8 and FastJet are GPL-2.0-or-later",
            notes=(f"events generated per class: {info['events_per_class']}",),
        )
        return _dataset_from_files(files_dir, full["classes"], metadata)


EXAMPLE = "example"
EXAMPLE_PARAMS: dict[str, Any] = {"train": 500, "valid": 250, "test": 250}
"""`train = "example"` reads top-tagging jets generated here (the first quick chunks)."""


def _file_classes(params: Mapping[str, Any]) -> list[str]:
    classes = params.get("classes", ["QCD", "Tbqq"])
    # a string (`--set classes=QCD`) would otherwise become the labels Q, C, D
    if not isinstance(classes, list | tuple):
        raise DataError(f"hep.files: 'classes' is a list of labels, got {classes!r}")
    return [str(c) for c in classes]


def files_to_read(params: Mapping[str, Any]) -> dict[str, Any]:
    """Split -> what to read: the shipped example everywhere, or only the user's files.

    The scenario's defaults say "example" for every split and `--set` replaces
    only some; a user who gives `train` and `test` leaves `valid` at "example".
    Generated jets never join a user's files: once train and test are files,
    a split left at "example" is dropped (validation jets then come from the
    training file), and an example train or test beside a user's file is refused.
    """
    given = {split: params[split] for split in SPLITS if split in params}
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


class JetFileSource(UserFileSource):
    """A user's jet files: JetClass/our ROOT files or TopLandscape HDF5, per split.

    Parameters: `train`, `test` (and optional `valid`): a path, a glob or a
    list of them, or "example" for all of them (a small top-tagging set
    generated here and read back through the same reader; see
    `files_to_read`); `classes` (label names, default QCD and Tbqq; the first
    is the background, so QCD comes first when listed); `tree` (default
    `tree`); `max_jets` per split (default: all). Without `valid`, the
    validation jets are carved from the training file by the protocol.
    The jets are read once, chunk by chunk, and cached as our ROOT files. The
    cache key holds each file's size and modification time (a sha256 of
    100 GB of JetClass would take longer than the benchmark).
    """

    name = "hep.files"
    version = "2"  # 2: no generated "valid" beside a user's train and test (1 added them)
    params_model = JetFileParams

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        for split in ("train", "test"):
            if split not in params:
                raise DataError(f"hep.files: '{split}' (a path or glob of jet files) is required")
        classes = _file_classes(params)
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise DataError(
                f"hep.files: 'classes' needs two or more distinct labels, got {classes}"
            )
        # Class 0 is the background the rejections (1/eps_B) count, so QCD cannot be a signal.
        if "QCD" in classes and classes[0] != "QCD":
            raise DataError(
                f"hep.files: list 'QCD' first in 'classes' (class 0 is the background "
                f"that 1/eps_B counts), e.g. {['QCD', *(c for c in classes if c != 'QCD')]}; "
                f"got {classes}"
            )

    def input_files(self, params: Mapping[str, Any]) -> list[Path]:
        """Every jet file the splits' paths and globs expand to (none for the example)."""
        return [
            path
            for where in files_to_read(params).values()
            if where != EXAMPLE
            for path in expand_paths(where)
        ]

    def fingerprint(self, params: Mapping[str, Any]) -> str:
        # Size and modification time, not the core's sha256: hashing 100 GB of JetClass
        # would take longer than the benchmark.
        stamps = []
        for path in self.input_files(params):
            stat = path.stat()
            stamps.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
        return "|".join(stamps)

    def prepare(self, params: Mapping[str, Any], out_dir: Path) -> None:
        classes = _file_classes(params)
        splits = files_to_read(params)
        with tempfile.TemporaryDirectory() as scratch:
            if EXAMPLE in splits.values():  # then every split is the example
                PythiaJetSource().prepare(EXAMPLE_PARAMS, Path(scratch))
            for split, where in splits.items():
                source = Path(scratch) / f"{split}.root" if where == EXAMPLE else where
                self._copy(source, params, classes, out_dir / f"{split}.root")

    def _copy(self, where: Any, params: Mapping[str, Any], classes: list[str], out: Path) -> None:
        chunk = read_jet_files(
            where, tree=str(params.get("tree", "tree")), max_jets=params.get("max_jets")
        )
        _class_index(chunk, classes)  # fail before writing when labels do not fit
        write_jets_root(out, chunk_columns(chunk))

    def export_view(self, dataset: Dataset, params: Mapping[str, Any]) -> ExportView:
        from assay_hep.export import jet_view

        return jet_view(dataset, _file_classes(params))

    def load(self, params: Mapping[str, Any], files_dir: Path) -> Dataset:
        classes = _file_classes(params)
        splits = files_to_read(params)
        metadata = DatasetMetadata(
            name="user-jets",
            version="1",
            provenance=f"user files: {', '.join(str(where) for where in splits.values())}",
            licence="as given by the files' owner",
        )
        return _dataset_from_files(files_dir, classes, metadata)


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
