"""H2 in STO-3G from first principles: the sanity check of the simulator stack.

Derivation, in the order the code follows:

1. Basis: one STO-3G 1s function per hydrogen, a contraction of three
   Gaussians exp(-a r^2). Exponents and coefficients are those of Hehre,
   Stewart & Pople, J. Chem. Phys. 51, 2657 (1969), for a Slater exponent
   zeta = 1.24 (the exponents for zeta = 1 scaled by zeta^2).
2. Integrals over s-type Gaussians in closed form (Szabo & Ostlund, Modern
   Quantum Chemistry, 1989, appendix A): overlap S, kinetic T, nuclear
   attraction V (with the Boys function F0) and electron repulsion (ab|cd).
3. Molecular orbitals: by the molecule's symmetry the restricted Hartree-Fock
   orbitals of the minimal basis are fixed, sigma_g = (phi_A + phi_B) /
   sqrt(2 (1 + S_AB)) and sigma_u = (phi_A - phi_B) / sqrt(2 (1 - S_AB)).
4. Second quantisation: H = sum h_pq a_p^+ a_q + 1/2 sum (pq|rs) a_p^+ a_r^+
   a_s a_q over four spin orbitals (sigma_g up, sigma_g down, sigma_u up,
   sigma_u down), mapped to four qubits with the Jordan-Wigner transform
   a_p = Z_0 ... Z_{p-1} (X_p + i Y_p) / 2, giving a sum of Pauli strings.
5. Exact diagonalisation of that qubit Hamiltonian in the two-electron
   sector, plus 1/R nuclear repulsion, gives the FCI energy -1.13730 Ha at
   R = 0.735 A; a one-parameter VQE (a Givens rotation between |1100> and
   |0011>, simulated as a Qiskit circuit) reaches the same value.
"""

from __future__ import annotations

from itertools import product

import numpy as np
import numpy.typing as npt
from qiskit import QuantumCircuit  # type: ignore[import-untyped]
from qiskit.quantum_info import SparsePauliOp, Statevector  # type: ignore[import-untyped]
from scipy.optimize import minimize_scalar
from scipy.special import erf

BOHR_PER_ANGSTROM = 1 / 0.529177210903
STO3G_EXPONENTS_ZETA1 = np.array([2.227660584, 0.405771156, 0.109818036])
STO3G_COEFFICIENTS = np.array([0.1543289673, 0.5353281423, 0.4446345422])
HYDROGEN_ZETA = 1.24

Primitive = tuple[float, float, npt.NDArray[np.float64]]  # exponent, coefficient, centre


def boys0(t: float) -> float:
    return 1.0 if t < 1e-12 else 0.5 * np.sqrt(np.pi / t) * float(erf(np.sqrt(t)))


def basis_function(centre: npt.NDArray[np.float64]) -> list[Primitive]:
    """STO-3G hydrogen 1s: normalised primitives (2a/pi)^(3/4) times contraction coefficients."""
    exponents = STO3G_EXPONENTS_ZETA1 * HYDROGEN_ZETA**2
    return [
        (float(a), float(c * (2 * a / np.pi) ** 0.75), centre)
        for a, c in zip(exponents, STO3G_COEFFICIENTS, strict=True)
    ]


def _pair(a: Primitive, b: Primitive) -> tuple[float, float, npt.NDArray[np.float64]]:
    p = a[0] + b[0]
    distance2 = float(np.sum((a[2] - b[2]) ** 2))
    prefactor = a[1] * b[1] * np.exp(-a[0] * b[0] / p * distance2)  # coefficients included
    return p, prefactor, (a[0] * a[2] + b[0] * b[2]) / p


def overlap(a: Primitive, b: Primitive) -> float:
    p, k, _ = _pair(a, b)
    return float((np.pi / p) ** 1.5 * k)


def kinetic(a: Primitive, b: Primitive) -> float:
    p, k, _ = _pair(a, b)
    reduced = a[0] * b[0] / p
    distance2 = float(np.sum((a[2] - b[2]) ** 2))
    return float(reduced * (3 - 2 * reduced * distance2) * (np.pi / p) ** 1.5 * k)


def attraction(
    a: Primitive, b: Primitive, nucleus: npt.NDArray[np.float64], charge: float
) -> float:
    p, k, centre = _pair(a, b)
    return -2 * np.pi / p * charge * k * boys0(p * float(np.sum((centre - nucleus) ** 2)))


def repulsion(a: Primitive, b: Primitive, c: Primitive, d: Primitive) -> float:
    p, k_ab, centre_p = _pair(a, b)
    q, k_cd, centre_q = _pair(c, d)
    t = p * q / (p + q) * float(np.sum((centre_p - centre_q) ** 2))
    return float(2 * np.pi**2.5 / (p * q * np.sqrt(p + q)) * k_ab * k_cd * boys0(t))


def atomic_integrals(
    r_bohr: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """S, h = T + V and (ab|cd) in the two-function atomic basis."""
    nuclei = [np.zeros(3), np.array([0.0, 0.0, r_bohr])]
    basis = [basis_function(n) for n in nuclei]
    s, h = np.zeros((2, 2)), np.zeros((2, 2))
    eri = np.zeros((2, 2, 2, 2))
    for i, j in product(range(2), repeat=2):
        for a, b in product(basis[i], basis[j]):
            s[i, j] += overlap(a, b)
            h[i, j] += kinetic(a, b) + sum(attraction(a, b, n, 1.0) for n in nuclei)
    for i, j, k, m in product(range(2), repeat=4):
        for a, b, c, d in product(basis[i], basis[j], basis[k], basis[m]):
            eri[i, j, k, m] += repulsion(a, b, c, d)
    return s, h, eri


def molecular_integrals(r_bohr: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """h_pq and (pq|rs) over the symmetry orbitals sigma_g, sigma_u."""
    s, h, eri = atomic_integrals(r_bohr)
    overlap_ab = s[0, 1]
    c = np.array(
        [
            [1, 1] / np.sqrt(2 * (1 + overlap_ab)),
            [1, -1] / np.sqrt(2 * (1 - overlap_ab)),
        ]
    ).T  # columns: sigma_g, sigma_u
    h_mo = c.T @ h @ c
    eri_mo = np.einsum("ap,bq,cr,ds,abcd->pqrs", c, c, c, c, eri)
    return h_mo, eri_mo


def jordan_wigner_hamiltonian(r_angstrom: float = 0.735) -> tuple[SparsePauliOp, float]:
    """The 4-qubit electronic Hamiltonian (Pauli sum) and the nuclear repulsion 1/R."""
    r_bohr = r_angstrom * BOHR_PER_ANGSTROM
    h_mo, eri_mo = molecular_integrals(r_bohr)
    n = 4  # spin orbital 2p + spin: 0 g-up, 1 g-down, 2 u-up, 3 u-down
    spatial = [p // 2 for p in range(n)]
    spin = [p % 2 for p in range(n)]

    def annihilation(p: int) -> SparsePauliOp:
        x = "I" * (n - p - 1) + "X" + "Z" * p
        y = "I" * (n - p - 1) + "Y" + "Z" * p
        return SparsePauliOp([x, y], coeffs=[0.5, 0.5j])

    a = [annihilation(p) for p in range(n)]
    adag = [op.adjoint() for op in a]
    hamiltonian = SparsePauliOp("I" * n, coeffs=[0.0])
    for p, q in product(range(n), repeat=2):
        if spin[p] == spin[q] and abs(h_mo[spatial[p], spatial[q]]) > 1e-12:
            hamiltonian += h_mo[spatial[p], spatial[q]] * adag[p].compose(a[q])
    for p, q, r, s in product(range(n), repeat=4):
        if spin[p] != spin[q] or spin[r] != spin[s]:
            continue
        value = eri_mo[spatial[p], spatial[q], spatial[r], spatial[s]]
        if abs(value) > 1e-12:
            term = adag[p].compose(adag[r]).compose(a[s]).compose(a[q])
            hamiltonian += 0.5 * value * term
    return hamiltonian.simplify(atol=1e-12), 1.0 / r_bohr


def exact_ground_energy(r_angstrom: float = 0.735) -> float:
    """Lowest eigenvalue in the two-electron sector plus nuclear repulsion (Hartree)."""
    hamiltonian, nuclear = jordan_wigner_hamiltonian(r_angstrom)
    matrix = hamiltonian.to_matrix()
    electrons = np.array([bin(i).count("1") for i in range(16)])
    sector = np.flatnonzero(electrons == 2)
    block = matrix[np.ix_(sector, sector)]
    return float(np.linalg.eigvalsh(block)[0].real + nuclear)


def givens_ansatz(theta: float) -> QuantumCircuit:
    """cos(theta) |both in sigma_g> + sin(theta) |both in sigma_u> (qubits 0, 1 vs 2, 3)."""
    circuit = QuantumCircuit(4)
    circuit.ry(2 * theta, 2)
    circuit.cx(2, 3)
    circuit.x([0, 1])
    circuit.cx(2, 0)
    circuit.cx(2, 1)
    return circuit


def vqe_ground_energy(r_angstrom: float = 0.735) -> float:
    hamiltonian, nuclear = jordan_wigner_hamiltonian(r_angstrom)

    def energy(theta: float) -> float:
        return float(Statevector(givens_ansatz(theta)).expectation_value(hamiltonian).real)

    result = minimize_scalar(energy, bounds=(-np.pi / 2, np.pi / 2), method="bounded")
    return float(result.fun) + nuclear
