"""Features of one (circuit, qubit) row, after Liao et al. (Nat. Mach. Intell. 2024).

Tabular models see the noisy <Z> of the qubit and its neighbours, gate counts
of the compiled circuit, a histogram of its rotation angles, and the noise
parameters of the qubit. The circuit graph for the GNN is built here too:
one node per logical gate, edges along each qubit wire.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from qiskit import QuantumCircuit  # type: ignore[import-untyped]

ANGLE_BINS = 8
GATE_KINDS = ("ry", "rz", "rx", "rzz", "cx", "h", "sx", "x", "other")
"""Gate vocabulary of the graph; user circuits may hold any gate, which maps to `other`."""
TABULAR_COLUMNS: tuple[str, ...] = (
    "noisy_z",
    "noisy_z_left",
    "noisy_z_right",
    "noisy_z_mean",
    "qubit_position",
    "qubit_is_edge",
    "n_qubits",
    "steps",
    "n_rz",
    "n_sx",
    "n_x",
    "n_cx",
    "n_cx_on_qubit",
    "n_1q_on_qubit",
    *(f"angle_hist_{b}" for b in range(ANGLE_BINS)),
    "t1_us",
    "t2_us",
    "readout",
    "p1",
    "p2",
)


def compiled_counts(
    device: QuantumCircuit,
) -> tuple[dict[str, int], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Gate counts, per-qubit CX and 1q counts, and the rotation-angle histogram."""
    n = device.num_qubits
    counts = {name: 0 for name in ("rz", "sx", "x", "cx")}
    cx_on = np.zeros(n, dtype=np.int64)
    one_q_on = np.zeros(n, dtype=np.int64)
    angles: list[float] = []
    for instruction in device.data:
        name = instruction.operation.name
        if name not in counts:
            continue
        counts[name] += 1
        qubits = [device.find_bit(q).index for q in instruction.qubits]
        if name == "cx":
            cx_on[qubits] += 1
        else:
            one_q_on[qubits] += 1
        if name == "rz":
            angle = float(instruction.operation.params[0])
            angles.append((angle + np.pi) % (2 * np.pi) - np.pi)
    hist, _ = np.histogram(angles, bins=ANGLE_BINS, range=(-np.pi, np.pi))
    total = max(len(angles), 1)
    return counts, cx_on, one_q_on, hist.astype(np.float64) / total


def tabular_rows(
    *,
    noisy: npt.NDArray[np.float64],
    steps: int,
    counts: dict[str, int],
    cx_on: npt.NDArray[np.int64],
    one_q_on: npt.NDArray[np.int64],
    angle_hist: npt.NDArray[np.float64],
    qubit_noise: dict[str, npt.NDArray[np.float64]],
    p1: float,
    p2: float,
) -> npt.NDArray[np.float64]:
    """One feature row per qubit, columns as in `TABULAR_COLUMNS`."""
    n = len(noisy)
    rows = []
    for q in range(n):
        left = noisy[q - 1] if q > 0 else 0.0
        right = noisy[q + 1] if q < n - 1 else 0.0
        rows.append(
            [
                noisy[q],
                left,
                right,
                float(noisy.mean()),
                q / (n - 1),
                float(q in (0, n - 1)),
                n,
                steps,
                counts["rz"],
                counts["sx"],
                counts["x"],
                counts["cx"],
                cx_on[q],
                one_q_on[q],
                *angle_hist,
                qubit_noise["t1_us"][q],
                qubit_noise["t2_us"][q],
                qubit_noise["readout"][q],
                p1,
                p2,
            ]
        )
    out = np.asarray(rows, dtype=np.float64)
    assert out.shape[1] == len(TABULAR_COLUMNS)
    return out


@dataclass(frozen=True)
class CircuitGraph:
    """A circuit as a graph: node features, directed wire edges (both ways), wire ends."""

    nodes: npt.NDArray[np.float32]
    edges: npt.NDArray[np.int64]
    wire_end: npt.NDArray[np.int64]
    """Index of the last node on each qubit's wire (the GNN reads the qubit's answer there)."""


NODE_FEATURES = len(GATE_KINDS) + 4  # one-hot kind, sin/cos angle, wire position, depth


def circuit_graph(circuit: QuantumCircuit) -> CircuitGraph:
    """Nodes are logical gates; each gate links to the previous gate on each of its wires."""
    n = circuit.num_qubits
    nodes: list[list[float]] = []
    edges: list[tuple[int, int]] = []
    last = [-1] * n
    for instruction in circuit.data:
        name = instruction.operation.name
        if name in ("measure", "barrier"):
            continue
        name = name if name in GATE_KINDS else "other"
        qubits = [circuit.find_bit(q).index for q in instruction.qubits]
        params = [p for p in instruction.operation.params if isinstance(p, int | float)]
        angle = float(params[0]) if params else 0.0
        onehot = [float(name == kind) for kind in GATE_KINDS]
        position = float(np.mean(qubits)) / max(n - 1, 1)
        index = len(nodes)
        nodes.append([*onehot, np.sin(angle), np.cos(angle), position, index / 200.0])
        for q in qubits:
            if last[q] >= 0:
                edges += [(last[q], index), (index, last[q])]
            last[q] = index
    for q in range(n):  # an idle wire gets one identity node so every qubit has a readout
        if last[q] < 0:
            last[q] = len(nodes)
            nodes.append([0.0] * len(GATE_KINDS) + [0.0, 1.0, q / max(n - 1, 1), 0.0])
    edge_array = np.asarray(edges, dtype=np.int64).T.reshape(2, -1)
    return CircuitGraph(
        np.asarray(nodes, dtype=np.float32), edge_array, np.asarray(last, dtype=np.int64)
    )
