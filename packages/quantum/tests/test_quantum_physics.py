"""Physics validation: the simulator stack, the decoders' reference table, and H2."""

import numpy as np
import pytest
import torch
from assay_quantum.h2 import exact_ground_energy, jordan_wigner_hamiltonian, vqe_ground_energy
from assay_quantum.ising import (
    IsingParams,
    ideal_z,
    ising_circuit,
    random_initial_angles,
    sampled_z,
)
from assay_quantum.metrics import per_round, wilson_interval
from assay_quantum.mitigation_data import ZNE_SCALES, simulate_scales
from assay_quantum.noise import NoiseParams
from assay_quantum.qml_models import reuploading_circuit, reuploading_z
from assay_quantum.surface_code import memory_circuit, sample_shots
from qiskit.quantum_info import SparsePauliOp, Statevector

SHOTS = 10_000


def test_noise_off_sampling_matches_statevector() -> None:
    """Without noise, sampled <Z_i> agree with the statevector within 4.5 shot-noise sigmas."""
    rng = np.random.default_rng(11)
    circuits = [
        ising_circuit(n, steps, random_initial_angles(rng, n), IsingParams())
        for n, steps in [(4, 1), (5, 7), (6, 15)]
    ]
    sampled = sampled_z(circuits, noise=None, shots=SHOTS, seed=3)
    for circuit, estimate in zip(circuits, sampled, strict=True):
        exact = ideal_z(circuit)
        sigma = np.sqrt(np.maximum(1 - exact**2, 1e-4) / SHOTS)
        assert np.all(np.abs(estimate - exact) < 4.5 * sigma), (estimate, exact)


def test_noise_off_data_path_matches_statevector_at_every_scale() -> None:
    """The path that builds the data (folding, density matrix, batching) agrees with the
    statevector at scale factors 1, 3 and 5 when the noise is off, and each scale
    draws its own shot noise."""
    rng = np.random.default_rng(5)
    circuits = [
        ising_circuit(n, steps, random_initial_angles(rng, n), IsingParams())
        for n, steps in [(4, 2), (4, 6), (5, 3)]
    ]
    silent = NoiseParams(p1=0.0, p2=0.0, t1_us=1e12, t2_us=1e12, readout=0.0, jitter=0.0)
    noisy = simulate_scales(circuits, silent, shots=SHOTS, seed=9)
    for circuit, per_scale in zip(circuits, noisy, strict=True):
        exact = ideal_z(circuit)
        sigma = np.sqrt(np.maximum(1 - exact**2, 1e-4) / SHOTS)
        width = circuit.num_qubits
        for scale, estimate in zip(ZNE_SCALES, per_scale, strict=True):
            assert np.all(np.abs(estimate[:width] - exact) < 4.5 * sigma), (scale, estimate, exact)
        assert not np.array_equal(per_scale[0, :width], per_scale[1, :width])


# docs/references.md (MWPM table): PyMatching on stim rotated memory-Z, per round, rounds = d.
MWPM_TABLE = {(3, 0.003): 2.14e-3, (5, 0.003): 6.9e-4, (3, 0.005): 5.73e-3, (5, 0.005): 2.92e-3}


@pytest.mark.parametrize(("distance", "p"), sorted(MWPM_TABLE))
def test_mwpm_reproduces_reference_table(distance: int, p: float) -> None:
    """The table value lies inside the 99 % Wilson interval of our own MWPM estimate."""
    import pymatching

    shots = 100_000 if distance == 3 else 200_000
    circuit = memory_circuit(distance, distance, p)
    events, flips = sample_shots(circuit, shots, seed=20_240 + distance)
    matching = pymatching.Matching.from_detector_error_model(
        circuit.detector_error_model(decompose_errors=True)
    )
    predicted = np.asarray(matching.decode_batch(events.astype(np.uint8)))[:, 0]
    failures = int(np.sum(predicted != flips))
    low, high = wilson_interval(failures, shots, confidence=0.99)
    reference = MWPM_TABLE[(distance, p)]
    assert per_round(low, distance) <= reference <= per_round(high, distance), (
        per_round(failures / shots, distance),
        reference,
    )


def test_per_round_conversion_and_interval() -> None:
    assert per_round(1 - (1 - 0.01) ** 3, 3) == pytest.approx(0.01)
    low, high = wilson_interval(50, 1000)
    assert low < 0.05 < high
    assert wilson_interval(0, 100)[0] == pytest.approx(0.0, abs=1e-12)


def test_h2_sto3g_exact_and_vqe_energy() -> None:
    """FCI of H2 / STO-3G at 0.735 A is -1.1373060 Ha; chemical accuracy is 1.6 mHa."""
    hamiltonian, nuclear = jordan_wigner_hamiltonian(0.735)
    assert hamiltonian.num_qubits == 4
    assert nuclear == pytest.approx(0.71997, abs=1e-4)
    assert exact_ground_energy(0.735) == pytest.approx(-1.1373060, abs=1.6e-3)
    assert vqe_ground_energy(0.735) == pytest.approx(-1.1373060, abs=1.6e-3)


def test_reuploading_torch_simulation_equals_qiskit() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5))
    weights, biases = rng.normal(size=(2, 5, 2)), rng.normal(size=(2, 5, 2))
    ours = reuploading_z(torch.as_tensor(x), torch.as_tensor(weights), torch.as_tensor(biases))
    z_ops = [SparsePauliOp("I" * (4 - q) + "Z" + "I" * q) for q in range(5)]
    theirs = [
        [
            Statevector(reuploading_circuit(row, weights, biases)).expectation_value(op).real
            for op in z_ops
        ]
        for row in x
    ]
    np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-10)
