"""Rotated surface-code memory experiments from stim, and the per-round logical error rate.

Circuits: `stim.Circuit.generated("surface_code:rotated_memory_z", ...)` with
uniform circuit noise p (after every Clifford, before every round on data
qubits, after resets and before measurements). Train and test shots come from
samplers with disjoint seeds. Each row is one shot: the detection events
(the input) and whether the logical Z observable flipped (the label).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import stim  # type: ignore[import-untyped]
from assay.kit import (
    DataError,
    Dataset,
    DatasetMetadata,
    ExportColumn,
    ExportFile,
    ExportView,
    Source,
    SourceParams,
    read_array,
    read_json,
    write_array,
    write_json,
)
from pydantic import Field, field_validator

from assay_quantum.mitigation_data import GENERATED_LICENCE

TRAIN_SEED_OFFSET = 0
TEST_SEED_OFFSET = 1_000_003  # a different stream: train and test shots never share a seed


def memory_circuit(distance: int, rounds: int, p: float) -> stim.Circuit:
    return stim.Circuit.generated(
        "surface_code:rotated_memory_z",
        distance=distance,
        rounds=rounds,
        after_clifford_depolarization=p,
        before_round_data_depolarization=p,
        before_measure_flip_probability=p,
        after_reset_flip_probability=p,
    )


@dataclass(frozen=True)
class SyndromeLayout:
    """Where each detector sits in the (t, x, y) volume, and the circuit it came from."""

    circuit_text: str
    distance: int
    rounds: int
    cells: npt.NDArray[np.int64]
    """(n_detectors, 3): t, x, y grid index of every detector."""
    shape: tuple[int, int, int]

    @classmethod
    def from_circuit(cls, circuit: stim.Circuit, distance: int, rounds: int) -> SyndromeLayout:
        coords = circuit.get_detector_coordinates()
        points = np.asarray([coords[i] for i in range(circuit.num_detectors)], dtype=np.float64)
        xyz = points[:, [2, 0, 1]]  # stim gives (x, y, t)
        cells = np.zeros(xyz.shape, dtype=np.int64)
        shape = []
        for axis in range(3):
            values, index = np.unique(xyz[:, axis], return_inverse=True)
            cells[:, axis] = index
            shape.append(len(values))
        return cls(str(circuit), distance, rounds, cells, (shape[0], shape[1], shape[2]))

    def circuit(self) -> stim.Circuit:
        return stim.Circuit(self.circuit_text)


@dataclass(frozen=True)
class Syndromes:
    """Detection events of many shots (rows) with their shared layout; sliceable by rows."""

    events: npt.NDArray[np.bool_]
    layout: SyndromeLayout

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, rows: Any) -> Syndromes:
        return Syndromes(self.events[rows], self.layout)


def sample_shots(
    circuit: stim.Circuit, shots: int, seed: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    sampler = circuit.compile_detector_sampler(seed=seed)
    events, flips = sampler.sample(shots, separate_observables=True)
    return np.asarray(events, dtype=np.bool_), np.asarray(flips[:, 0], dtype=np.bool_)


class SurfaceCodeParams(SourceParams):
    distance: int = Field(ge=3)
    p: float = Field(gt=0, lt=0.5)
    """Physical error rate of the circuit-level depolarising noise."""
    rounds: int | None = Field(default=None, ge=1)
    """Syndrome rounds; None: as many as the distance."""
    train_shots: int = Field(ge=1)
    test_shots: int = Field(ge=1)
    seed: int = 0

    @field_validator("distance")
    @classmethod
    def _odd(cls, distance: int) -> int:
        if distance % 2 == 0:
            raise ValueError("must be an odd integer >= 3")
        return distance


class SurfaceCodeSource(Source[SurfaceCodeParams]):
    """Parameters: `distance`, `p`, `rounds` (default = distance), `train_shots`, `test_shots`, `seed`."""

    name = "quantum.surface_code"
    version = "1"

    def generator_versions(self) -> dict[str, str]:
        return {"stim": stim.__version__}

    params_model = SurfaceCodeParams

    def export_view(self, dataset: Dataset, params: SurfaceCodeParams) -> ExportView:
        del params
        syndromes: Syndromes = dataset.inputs
        layout = syndromes.layout
        cells = ", ".join(f"{t}/{x}/{y}" for t, x, y in layout.cells.tolist())

        def write(path: Path) -> None:
            path.write_text(layout.circuit_text, encoding="utf-8")

        return ExportView(
            inputs=(
                ExportColumn(
                    "detection_events",
                    syndromes.events.astype(np.uint8),
                    f"the shot's {len(layout.cells)} detector outcomes (1 = fired), in stim's "
                    f"detector order; detector k sits at grid cell t/x/y = {cells} "
                    f"(grid {layout.shape[0]}x{layout.shape[1]}x{layout.shape[2]})",
                ),
            ),
            files=(
                ExportFile(
                    "circuit.stim",
                    "text/plain",
                    f"the noisy rotated surface-code memory circuit (distance {layout.distance}, "
                    f"{layout.rounds} rounds) in stim's format, with detector coordinates",
                    write,
                ),
            ),
            target_description="1 when the logical observable flipped during the shot",
        )

    def _circuit(self, params: SurfaceCodeParams) -> tuple[stim.Circuit, int, int]:
        rounds = params.distance if params.rounds is None else params.rounds
        return memory_circuit(params.distance, rounds, params.p), params.distance, rounds

    def prepare(self, params: SurfaceCodeParams, out_dir: Path) -> None:
        circuit, _, _ = self._circuit(params)
        seed = params.seed
        train = sample_shots(circuit, params.train_shots, seed + TRAIN_SEED_OFFSET)
        test = sample_shots(circuit, params.test_shots, seed + TEST_SEED_OFFSET)
        events = np.concatenate([train[0], test[0]])
        write_array(out_dir / "events.npy", np.packbits(events, axis=1))
        write_array(out_dir / "flips.npy", np.concatenate([train[1], test[1]]).astype(np.uint8))
        (out_dir / "circuit.stim").write_text(str(circuit), encoding="utf-8")
        write_json(
            out_dir / "meta.json",
            {
                "n_train": len(train[1]),
                "n_test": len(test[1]),
                "n_detectors": circuit.num_detectors,
            },
        )

    def load(self, params: SurfaceCodeParams, files_dir: Path) -> Dataset:
        meta = read_json(files_dir / "meta.json")
        try:
            circuit = stim.Circuit((files_dir / "circuit.stim").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(
                f"{files_dir / 'circuit.stim'}: not a readable stim circuit ({exc})"
            ) from None
        _, distance, rounds = self._circuit(params)
        n_det = int(meta["n_detectors"])
        packed = read_array(files_dir / "events.npy")
        events = np.unpackbits(packed, axis=1, count=n_det).astype(np.bool_)
        flips = read_array(files_dir / "flips.npy").astype(np.int64)
        n_train, n_test = int(meta["n_train"]), int(meta["n_test"])
        if events.shape != (n_train + n_test, n_det) or flips.shape != (n_train + n_test,):
            raise DataError(f"{files_dir}: events.npy / flips.npy do not match meta.json")
        partition = np.asarray(["train"] * n_train + ["test"] * n_test, dtype=np.str_)
        return Dataset(
            inputs=Syndromes(events, SyndromeLayout.from_circuit(circuit, distance, rounds)),
            targets=flips,
            partition=partition,
            metadata=DatasetMetadata(
                name=f"surface-code-d{distance}-r{rounds}-p{params.p}",
                version=self.version,
                provenance=f"stim {stim.__version__} rotated_memory_z, uniform circuit noise",
                licence=GENERATED_LICENCE,
            ),
        )


# The metric: logical error rate per round.
#
# A memory experiment of r rounds fails with probability P_L. If every round
# fails independently with probability e, P_L = (1 - (1 - 2e)^r) / 2 for a
# flip that can undo itself; the simpler convention used here (and in the
# MWPM table of docs/references.md) treats failures as not cancelling: 1 - P_L = (1 - e)^r,
# so e = 1 - (1 - P_L)^(1 / r). The 95 % confidence interval is the Wilson
# score interval of P_L, mapped through the same monotone function.
