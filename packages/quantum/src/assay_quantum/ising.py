"""Trotterised transverse-field Ising circuits, gate folding and their simulation.

H = -J sum_i Z_i Z_{i+1} - h sum_i X_i on an open chain. One first-order
Trotter step of length dt is RZZ(-2 J dt) on every bond, then RX(-2 h dt) on
every qubit. Initial states are random single-qubit states (uniform on the
Bloch sphere). Targets are the ideal <Z_i> from the statevector; the noisy
values come from shots on the Aer noise model. Zero-noise extrapolation uses
global unitary folding, U -> U (U^dagger U)^k, which multiplies every gate's
noise by the scale factor 2k + 1 (Giurgica-Tiron et al. 2020).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from assay.kit import Params
from qiskit import QuantumCircuit, transpile  # type: ignore[import-untyped]
from qiskit.quantum_info import Statevector  # type: ignore[import-untyped]
from qiskit_aer import AerSimulator  # type: ignore[import-untyped]
from qiskit_aer.noise import NoiseModel  # type: ignore[import-untyped]

from assay_quantum.noise import BASIS_GATES


class IsingParams(Params):
    """The chain's terms (the scenario's `ising` table)."""

    h: float = 1.0
    """Transverse field."""
    j: float = 0.15
    """Coupling."""
    dt: float = 0.5
    """Trotter step."""


def random_initial_angles(rng: np.random.Generator, n_qubits: int) -> npt.NDArray[np.float64]:
    """(theta, phi) per qubit, uniform on the Bloch sphere."""
    theta = np.arccos(1 - 2 * rng.uniform(size=n_qubits))
    phi = rng.uniform(-np.pi, np.pi, size=n_qubits)
    return np.stack([theta, phi], axis=1)


def ising_circuit(
    n_qubits: int, steps: int, initial: npt.NDArray[np.float64], ising: IsingParams
) -> QuantumCircuit:
    """The logical circuit (no measurements): state preparation, then `steps` Trotter steps."""
    circuit = QuantumCircuit(n_qubits, name=f"tfim_n{n_qubits}_s{steps}")
    for q in range(n_qubits):
        circuit.ry(float(initial[q, 0]), q)
        circuit.rz(float(initial[q, 1]), q)
    for _ in range(steps):
        for q in range(n_qubits - 1):
            circuit.rzz(-2 * ising.j * ising.dt, q, q + 1)
        for q in range(n_qubits):
            circuit.rx(-2 * ising.h * ising.dt, q)
    return circuit


def fold(circuit: QuantumCircuit, scale: int) -> QuantumCircuit:
    """Global folding U (U^dagger U)^k for an odd scale factor 2k + 1."""
    if scale < 1 or scale % 2 == 0:
        raise ValueError(f"folding needs an odd scale factor >= 1, got {scale}")
    folded = circuit.copy()
    inverse = circuit.inverse()
    for _ in range((scale - 1) // 2):
        folded.compose(inverse, inplace=True)
        folded.compose(circuit, inplace=True)
    return folded


def to_device(circuit: QuantumCircuit) -> QuantumCircuit:
    """Translate to the noisy basis without optimisation, so folds are never cancelled."""
    measured = circuit.copy()
    measured.measure_all()
    out: QuantumCircuit = transpile(
        measured, basis_gates=list(BASIS_GATES), optimization_level=0, seed_transpiler=0
    )
    return out


def ideal_z(circuit: QuantumCircuit) -> npt.NDArray[np.float64]:
    """Exact <Z_i> for every qubit from the statevector."""
    probs = Statevector(circuit).probabilities()
    return z_from_probabilities(probs, circuit.num_qubits)


def z_from_probabilities(probs: npt.NDArray[np.float64], n_qubits: int) -> npt.NDArray[np.float64]:
    """<Z_i> = sum_x p(x) (1 - 2 x_i), with Qiskit's little-endian bit order."""
    index = np.arange(len(probs))
    bits = (index[:, None] >> np.arange(n_qubits)[None, :]) & 1
    return np.asarray((1 - 2 * bits).T @ probs, dtype=np.float64)


def z_from_counts(counts: dict[str, int], n_qubits: int) -> npt.NDArray[np.float64]:
    probs = np.zeros(2**n_qubits)
    for key, count in counts.items():
        probs[int(key.replace(" ", ""), 2)] += count
    return z_from_probabilities(probs / probs.sum(), n_qubits)


def simulator(noise: NoiseModel | None, seed: int) -> AerSimulator:
    """A density-matrix simulator (exact noise channels; 4-6 qubits are cheap), one thread."""
    method = "density_matrix" if noise is not None else "statevector"
    return AerSimulator(
        method=method,
        noise_model=noise,
        seed_simulator=seed,
        max_parallel_threads=1,
        max_parallel_experiments=1,
    )


def sampled_z(
    circuits: Sequence[QuantumCircuit],
    *,
    noise: NoiseModel | None,
    shots: int,
    seed: int,
) -> list[npt.NDArray[np.float64]]:
    """<Z_i> estimated from `shots` measurements of each circuit (seed + i per circuit)."""
    out = []
    for i, circuit in enumerate(circuits):
        backend = simulator(noise, seed + i)
        result = backend.run(to_device(circuit), shots=shots).result()
        out.append(z_from_counts(result.get_counts(0), circuit.num_qubits))
    return out
