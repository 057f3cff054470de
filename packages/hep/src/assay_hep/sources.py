"""Data sources: jets generated with Pythia8 + FastJet (a user's jet files: `user_files`).

Both store one ROOT file per split (`train.root`, `valid.root`,
`test.root`, JetClass branch names, TTree `tree`) in the core cache and load
them back through the same reader a user's files go through. The dataset's
inputs are an awkward array of jets (JetClass fields), targets are class
indices in the order of `classes`, and the partition names each row's split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

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
    read_json,
    write_json,
)
from pydantic import Field, field_validator

from assay_hep.chunks import SPLITS, Columns, chunk_seed, concat_chunks, ensure_chunks
from assay_hep.features import jet_kinematics, wrap_phi
from assay_hep.generator import PROCESSES, ChunkSpec, physics_versions
from assay_hep.readers import JetChunk, read_jet_files, write_jets_root

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


def _split_files(files_dir: Path) -> list[tuple[str, Path]]:
    return [(s, files_dir / f"{s}.root") for s in SPLITS if (files_dir / f"{s}.root").is_file()]


def dataset_from_files(
    files_dir: Path, classes: Sequence[str], metadata: DatasetMetadata
) -> Dataset:
    jets, targets, partition = [], [], []
    for split, path in _split_files(files_dir):
        chunk = read_jet_files(path)
        jets.append(chunk.jets)
        targets.append(class_index(chunk, classes))
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


def class_index(chunk: JetChunk, classes: Sequence[str]) -> npt.NDArray[np.int64]:
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
        return dataset_from_files(files_dir, params.classes, metadata)
