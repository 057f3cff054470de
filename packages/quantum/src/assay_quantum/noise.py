"""The fixed, seeded Aer noise model of the error-mitigation scenario.

All of its numbers come from the scenario spec (`noise` table), so the cache key
changes whenever the noise does. Each qubit gets its own T1, T2 and readout
error, jittered around the nominal values by a seeded generator: hardware is
never uniform, and the per-qubit values are model features (Liao et al. 2024).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from assay.kit import Params
from pydantic import Field, model_validator
from qiskit_aer.noise import (  # type: ignore[import-untyped]
    NoiseModel,
    ReadoutError,
    depolarizing_error,
    thermal_relaxation_error,
)

BASIS_GATES = ("rz", "sx", "x", "cx")


class NoiseParams(Params):
    """Nominal noise numbers plus the seeded per-qubit jitter (the scenario's `noise` table)."""

    p1: float = Field(default=1e-3, ge=0, lt=1)
    """Depolarising probability of a one-qubit gate."""
    p2: float = Field(default=1e-2, ge=0, lt=1)
    """Depolarising probability of a two-qubit gate."""
    t1_us: float = Field(default=100.0, gt=0)
    t2_us: float = Field(default=80.0, gt=0)
    gate_time_1q_ns: float = Field(default=50.0, ge=0)
    gate_time_2q_ns: float = Field(default=300.0, ge=0)
    readout: float = Field(default=0.02, ge=0, lt=0.5)
    jitter: float = Field(default=0.2, ge=0)
    seed: int = 7

    @model_validator(mode="after")
    def _physical_t2(self) -> NoiseParams:
        if self.t2_us > 2 * self.t1_us:
            raise ValueError(f"noise needs t2_us ({self.t2_us}) <= 2 t1_us ({self.t1_us})")
        return self

    def per_qubit(self, n_qubits: int) -> dict[str, npt.NDArray[np.float64]]:
        """Per-qubit T1, T2 and readout error; the same seed gives the same device."""
        rng = np.random.default_rng(self.seed)
        factors = 1 + self.jitter * rng.uniform(-1, 1, size=(3, n_qubits))
        t1 = self.t1_us * factors[0]
        t2 = np.minimum(self.t2_us * factors[1], 2 * t1)
        readout = np.clip(self.readout * factors[2], 0, 0.49)
        return {"t1_us": t1, "t2_us": t2, "readout": readout}


def build_noise_model(params: NoiseParams, n_qubits: int) -> NoiseModel:
    """Depolarising + thermal relaxation after every physical gate, and readout error."""
    qubits = params.per_qubit(n_qubits)
    model = NoiseModel(basis_gates=list(BASIS_GATES))
    t1_ns = qubits["t1_us"] * 1e3
    t2_ns = qubits["t2_us"] * 1e3
    for q in range(n_qubits):
        relax_1q = thermal_relaxation_error(t1_ns[q], t2_ns[q], params.gate_time_1q_ns)
        error_1q = depolarizing_error(params.p1, 1).compose(relax_1q)
        model.add_quantum_error(error_1q, ["sx", "x"], [q])
        r = float(qubits["readout"][q])
        model.add_readout_error(ReadoutError([[1 - r, r], [r, 1 - r]]), [q])
    for a in range(n_qubits):
        for b in range(n_qubits):
            if a == b:
                continue
            relax = thermal_relaxation_error(t1_ns[a], t2_ns[a], params.gate_time_2q_ns).expand(
                thermal_relaxation_error(t1_ns[b], t2_ns[b], params.gate_time_2q_ns)
            )
            model.add_quantum_error(depolarizing_error(params.p2, 2).compose(relax), ["cx"], [a, b])
    return model
