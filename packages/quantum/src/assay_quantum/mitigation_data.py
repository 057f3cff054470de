"""The error-mitigation dataset: generated Ising circuits on the Aer noise model.

One row per (circuit, qubit): the target is the ideal <Z_i>; `inputs` are the
tabular features of `circuit_features`. Extras carry what the physics models
need at predict time, computed at generation time so that every model stays a
plain fit/predict: `noisy` (n_rows, 3) holds the noisy <Z_i> at the gate-folding
scale factors in `zne_scales` (1, 3, 5), used by zero-noise extrapolation;
`graph` holds the circuit DAG for the GNN; `steps` drives the depth split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
import qiskit  # type: ignore[import-untyped]
import qiskit_aer  # type: ignore[import-untyped]
from assay.kit import (
    DataError,
    Dataset,
    DatasetMetadata,
    Source,
    SourceParams,
    read_array,
    read_json,
    stable_hash,
    track,
    write_array,
    write_json,
)
from pydantic import Field
from qiskit import QuantumCircuit, qpy

from assay_quantum.circuit_features import (
    TABULAR_COLUMNS,
    CircuitGraph,
    circuit_graph,
    compiled_counts,
    tabular_rows,
)
from assay_quantum.ising import (
    IsingParams,
    fold,
    ideal_z,
    ising_circuit,
    random_initial_angles,
    simulator,
    to_device,
    z_from_counts,
)
from assay_quantum.noise import NoiseParams, build_noise_model

ZNE_SCALES = (1, 3, 5)
_SIMULATED: dict[
    str, tuple[list[QuantumCircuit], npt.NDArray[np.float64], npt.NDArray[np.float64]]
] = {}
"""Per-process memo of generated data by parameter hash: generation is deterministic, and the
conformance kit and a suite build the same entry in several cache folders."""
GENERATED_LICENCE = "CC0-1.0 (simulated here; no third-party data)"
BATCH = 16


def qiskit_versions() -> dict[str, str]:
    return {"qiskit": qiskit.__version__, "qiskit-aer": qiskit_aer.__version__}


def write_circuits(path: Path, circuits: Sequence[QuantumCircuit]) -> None:
    with path.open("wb") as handle:
        qpy.dump(list(circuits), handle)


def read_circuits(path: Path) -> list[QuantumCircuit]:
    try:
        with path.open("rb") as handle:
            loaded = qpy.load(handle)
    except Exception as exc:  # qpy raises several types for a corrupt or foreign file
        raise DataError(f"{path}: not a readable QPY circuit file ({exc})") from None
    return [c for c in loaded if isinstance(c, QuantumCircuit)]


def simulate_scales(
    circuits: Sequence[QuantumCircuit], noise: NoiseParams, *, shots: int, seed: int
) -> npt.NDArray[np.float64]:
    """Noisy <Z_i> per circuit (axis 0) and scale factor (axis 1), NaN-padded to the widest."""
    out = np.full((len(circuits), len(ZNE_SCALES), max(c.num_qubits for c in circuits)), np.nan)
    by_width: dict[int, list[int]] = {}
    for i, circuit in enumerate(circuits):
        by_width.setdefault(circuit.num_qubits, []).append(i)
    chunks = [
        (width, members[k : k + BATCH])
        for width, members in sorted(by_width.items())
        for k in range(0, len(members), BATCH)
    ]
    for width, chunk in track(chunks, total=len(chunks), description="Aer noisy circuits"):
        backend = simulator(build_noise_model(noise, width), seed + 7919 * chunk[0])
        for s, scale in enumerate(ZNE_SCALES):
            batch = [to_device(fold(circuits[i], scale)) for i in chunk]
            # A seed per scale: one shared seed would give every scale the same
            # random stream, correlating the shot noise that ZNE extrapolates over.
            scale_seed = seed + 7919 * chunk[0] + 104_729 * (s + 1)
            result = backend.run(batch, shots=shots, seed_simulator=scale_seed).result()
            for k, i in enumerate(chunk):
                out[i, s, :width] = z_from_counts(result.get_counts(k), width)
    return out


def circuit_rows(
    circuits: Sequence[QuantumCircuit],
    noisy: npt.NDArray[np.float64],
    steps: Sequence[int],
    noise: NoiseParams | None,
) -> dict[str, npt.NDArray[Any]]:
    """Feature rows, noisy values and indices for every (circuit, qubit)."""
    features, noisy_rows, circuit_index, qubit, step_rows = [], [], [], [], []
    for i, circuit in enumerate(circuits):
        n = circuit.num_qubits
        counts, cx_on, one_q_on, hist = compiled_counts(to_device(circuit))
        if noise is None:  # user circuits: the device noise is unknown, so it reads as zero
            qubit_noise = {k: np.zeros(n) for k in ("t1_us", "t2_us", "readout")}
            p1 = p2 = 0.0
        else:
            qubit_noise, p1, p2 = noise.per_qubit(n), noise.p1, noise.p2
        features.append(
            tabular_rows(
                noisy=noisy[i, 0, :n],
                steps=int(steps[i]),
                counts=counts,
                cx_on=cx_on,
                one_q_on=one_q_on,
                angle_hist=hist,
                qubit_noise=qubit_noise,
                p1=p1,
                p2=p2,
            )
        )
        noisy_rows.append(noisy[i, :, :n].T)
        circuit_index += [i] * n
        qubit += list(range(n))
        step_rows += [int(steps[i])] * n
    return {
        "features": np.concatenate(features),
        "noisy": np.concatenate(noisy_rows),
        "circuit_index": np.asarray(circuit_index, dtype=np.int64),
        "qubit": np.asarray(qubit, dtype=np.int64),
        "steps": np.asarray(step_rows, dtype=np.int64),
    }


def write_rows(
    out_dir: Path, rows: Mapping[str, npt.NDArray[Any]], targets: npt.NDArray[np.float64]
) -> None:
    for name, array in rows.items():
        write_array(out_dir / f"{name}.npy", np.ascontiguousarray(array))
    write_array(out_dir / "targets.npy", np.ascontiguousarray(targets, dtype=np.float64))
    write_json(out_dir / "columns.json", list(TABULAR_COLUMNS))


def load_rows(files_dir: Path, metadata: DatasetMetadata) -> Dataset:
    """The dataset from the files `write_rows` and `write_circuits` left in `files_dir`."""
    circuits = read_circuits(files_dir / "circuits.qpy")
    columns = read_json(files_dir / "columns.json")
    if columns != list(TABULAR_COLUMNS):
        raise DataError(f"{files_dir / 'columns.json'}: feature columns differ from this plugin's")
    arrays = {
        name: read_array(files_dir / f"{name}.npy")
        for name in ("features", "noisy", "circuit_index", "qubit", "steps", "targets")
    }
    graphs: list[CircuitGraph] = [circuit_graph(c) for c in circuits]
    rows = arrays["circuit_index"]
    if len(rows) and rows.max() >= len(circuits):
        raise DataError(
            f"{files_dir / 'circuit_index.npy'}: refers to circuits beyond circuits.qpy"
        )
    return Dataset(
        inputs=arrays["features"],
        targets=arrays["targets"],
        metadata=metadata,
        groups=rows,
        ids=np.array(
            [
                f"{circuits[int(i)].name}#{int(i)}/q{int(q)}"
                for i, q in zip(rows, arrays["qubit"], strict=True)
            ],
            dtype=object,
        ),
        extras={
            "noisy": arrays["noisy"],
            "zne_scales": np.tile(np.asarray(ZNE_SCALES, dtype=np.float64), (len(rows), 1)),
            "graph": [graphs[int(i)] for i in rows],
            "qubit": arrays["qubit"],
            "steps": arrays["steps"],
        },
    )


def _steps_of(circuit: QuantumCircuit) -> int:
    """Trotter steps from the circuit name `tfim_n{n}_s{steps}` given by `ising_circuit`."""
    return int(circuit.name.rsplit("_s", 1)[1])


class IsingNoiseParams(SourceParams):
    circuits_per_step: int = Field(ge=1)
    max_steps: int = Field(default=15, ge=1)
    qubits: list[Annotated[int, Field(ge=2, le=8)]] = Field(
        default_factory=lambda: [4, 5, 6], min_length=1
    )
    """Circuit widths, 2 to 8 qubits each."""
    shots: int = Field(default=10_000, ge=1)
    seed: int = 0
    ising: IsingParams = Field(default_factory=IsingParams)
    noise: NoiseParams = Field(default_factory=NoiseParams)


class IsingNoiseSource(Source[IsingNoiseParams]):
    """Trotterised TFIM circuits, ideal <Z_i> by statevector, noisy <Z_i> by Aer shots.

    Parameters (`IsingNoiseParams`): `circuits_per_step` (int), `max_steps` (15),
    `qubits` (list of widths, default [4, 5, 6]), `shots` (10^4), `seed`, `ising`
    {h, j, dt} (`IsingParams`) and `noise` (`NoiseParams`).
    """

    name = "quantum.ising_noisy"
    version = "2"  # 2: independent shot noise per ZNE scale factor
    params_model = IsingNoiseParams

    def generator_versions(self) -> dict[str, str]:
        return qiskit_versions()

    def prepare(self, params: IsingNoiseParams, out_dir: Path) -> None:
        key = stable_hash({"params": params.model_dump(), "versions": qiskit_versions()})
        if key not in _SIMULATED:
            _SIMULATED[key] = self._simulate(params)
        circuits, ideal, noisy = _SIMULATED[key]
        steps_list = [_steps_of(c) for c in circuits]
        rows = circuit_rows(circuits, noisy, steps_list, params.noise)
        write_circuits(out_dir / "circuits.qpy", circuits)
        write_rows(out_dir, rows, ideal)

    def _simulate(
        self, params: IsingNoiseParams
    ) -> tuple[list[QuantumCircuit], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        rng = np.random.default_rng(params.seed)
        steps_list = [
            s for s in range(1, params.max_steps + 1) for _ in range(params.circuits_per_step)
        ]
        circuits, ideal = [], []
        for steps in steps_list:
            width = int(rng.choice(params.qubits))
            circuit = ising_circuit(width, steps, random_initial_angles(rng, width), params.ising)
            circuits.append(circuit)
            ideal.append(ideal_z(circuit))
        noisy = simulate_scales(circuits, params.noise, shots=params.shots, seed=params.seed)
        return circuits, np.concatenate(ideal), noisy

    def load(self, params: IsingNoiseParams, files_dir: Path) -> Dataset:
        versions = qiskit_versions()
        return load_rows(
            files_dir,
            DatasetMetadata(
                name="tfim-noisy",
                version=self.version,
                provenance=(
                    f"Trotterised TFIM circuits simulated with Qiskit {versions['qiskit']} and "
                    f"Aer {versions['qiskit-aer']} (density matrix, seeded noise model)"
                ),
                licence=GENERATED_LICENCE,
            ),
        )
