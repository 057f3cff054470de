"""Simulation throughput of the quantum plugin, measured side by side in one run.

- error-mitigation data: circuits/s for the noisy Aer simulation at scale 1,
  for the full ZNE set (scales 1, 3, 5), and for the ideal statevector;
- surface code: stim detection-event sampling in shots/s, and PyMatching
  decoding in shots/s, at d=3 and d=5 (p=0.005, rounds=d).

Under CI=true the sizes are small. Run: `nox -s bench` or
`python packages/quantum/bench/bench_quantum.py`.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pymatching  # type: ignore[import-untyped]
from assay_quantum.ising import IsingParams, ideal_z, ising_circuit, random_initial_angles
from assay_quantum.mitigation_data import ZNE_SCALES, simulate_scales
from assay_quantum.noise import NoiseParams
from assay_quantum.surface_code import memory_circuit, sample_shots

SMALL = os.environ.get("CI", "").lower() == "true"


def _circuits(n: int) -> list:  # type: ignore[type-arg]
    rng = np.random.default_rng(0)
    return [
        ising_circuit(5, 1 + i % 15, random_initial_angles(rng, 5), IsingParams()) for i in range(n)
    ]


def bench_mitigation() -> None:
    n = 15 if SMALL else 60
    circuits = _circuits(n)
    start = time.perf_counter()
    for circuit in circuits:
        ideal_z(circuit)
    ideal_rate = n / (time.perf_counter() - start)
    start = time.perf_counter()
    simulate_scales(circuits, NoiseParams(), shots=10_000, seed=0)
    zne_rate = n / (time.perf_counter() - start)
    print(f"error-mitigation data, {n} TFIM circuits (5 qubits, 1-15 steps, 10^4 shots):")
    print(f"  ideal statevector           {ideal_rate:10.1f} circuits/s")
    print(
        f"  noisy, scales {ZNE_SCALES}     {zne_rate:10.2f} circuits/s (all three scale factors per circuit)"
    )
    print(f"  ratio statevector / noisy   {ideal_rate / zne_rate:10.1f}x")


def bench_surface_code() -> None:
    shots = 20_000 if SMALL else 200_000
    print(f"surface code, rotated memory-Z, p=0.005, rounds=d, {shots} shots:")
    for distance in (3, 5):
        circuit = memory_circuit(distance, distance, 0.005)
        start = time.perf_counter()
        events, _ = sample_shots(circuit, shots, seed=1)
        sample_rate = shots / (time.perf_counter() - start)
        matching = pymatching.Matching.from_detector_error_model(
            circuit.detector_error_model(decompose_errors=True)
        )
        start = time.perf_counter()
        matching.decode_batch(events.astype(np.uint8))
        decode_rate = shots / (time.perf_counter() - start)
        print(
            f"  d={distance}: stim sampling {sample_rate:12.0f} shots/s, PyMatching decoding "
            f"{decode_rate:10.0f} shots/s, ratio {sample_rate / decode_rate:6.1f}x"
        )


if __name__ == "__main__":
    bench_mitigation()
    bench_surface_code()
