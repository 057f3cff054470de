"""Tiny user-format folders for the reader tests, written by a small generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from assay_quantum.ising import IsingParams, ideal_z, ising_circuit, random_initial_angles
from qiskit import QuantumCircuit, qasm3, qpy

N_CIRCUITS, N_QUBITS = 3, 3


def fixture_circuits() -> list[QuantumCircuit]:
    rng = np.random.default_rng(3)
    return [
        ising_circuit(N_QUBITS, steps, random_initial_angles(rng, N_QUBITS), IsingParams())
        for steps in range(1, N_CIRCUITS + 1)
    ]


def write_values(
    folder: Path, circuits: list[QuantumCircuit], *, shape: tuple[int, int] | None = None
) -> None:
    ideal = np.stack([ideal_z(c) for c in circuits])
    measured = 0.9 * ideal
    if shape is not None:
        measured = np.zeros(shape)
    np.savez(
        folder / "values.npz",
        ideal=ideal,
        measured=measured,
        measured_scale3=0.7 * ideal if shape is None else np.zeros(shape),
    )


def qasm_folder(root: Path) -> Path:
    folder = root / "qasm_ok"
    (folder / "circuits").mkdir(parents=True)
    circuits = fixture_circuits()
    for i, circuit in enumerate(circuits):
        (folder / "circuits" / f"c{i:02d}.qasm").write_text(qasm3.dumps(circuit), encoding="utf-8")
    write_values(folder, circuits)
    return folder


def qpy_folder(root: Path) -> Path:
    folder = root / "qpy_ok"
    folder.mkdir(parents=True)
    circuits = fixture_circuits()
    with (folder / "circuits.qpy").open("wb") as handle:
        qpy.dump(circuits, handle)
    write_values(folder, circuits)
    return folder


def broken_qasm_folder(root: Path) -> Path:
    folder = qasm_folder(root / "broken")
    (folder / "circuits" / "c01.qasm").write_text(
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nry(0.1 q[0];\n', encoding="utf-8"
    )
    return folder


def wrong_shape_folder(root: Path) -> Path:
    folder = qpy_folder(root / "wrong_shape")
    write_values(folder, fixture_circuits(), shape=(N_CIRCUITS, N_QUBITS + 1))
    return folder
