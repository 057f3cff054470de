"""Classifiers for the QML scenarios: classical (SVC, MLP) and quantum (kernel SVM, re-uploading).

Every model scales the inputs and picks its hyperparameters by a 5-fold grid
search inside the training set, as in Bowles, Ahmed & Schuld (2024).

- Quantum-kernel SVM: the fidelity kernel k(x, x') = |<psi(x)|psi(x')>|^2 of
  an IQP-style feature map (H, RZ(s x_i), RZZ(s^2 x_i x_j) on a ring, two
  layers), computed from Qiskit statevectors.
- Data re-uploading classifier (Perez-Salinas et al. 2020): per layer and
  qubit RY(w x_i + b) RZ(w' x_i + b'), then a ring of CZ; the class score is
  <Z_0>. The circuit is the Qiskit circuit `reuploading_circuit`; training
  simulates the same circuit with a batched torch statevector (tested equal
  to Qiskit's), so gradients come from autograd.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from assay.kit import (
    Dataset,
    FittedChoice,
    Model,
    Predictions,
    SklearnModel,
    Standardiser,
    TorchModel,
    TrainConfig,
    array_features,
    require_targets,
    seed_everything,
    tensor_batches,
    torch_factory,
)
from pydantic import Field
from qiskit import QuantumCircuit  # type: ignore[import-untyped]
from qiskit.quantum_info import Statevector  # type: ignore[import-untyped]
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import nn

CV_FOLDS = 5
Readout = Literal["all", "first"]
"""What the class score reads: every qubit's <Z_i>, or <Z_0> alone."""


def svc() -> Model:
    grid = {"svc__C": [0.1, 1.0, 10.0, 100.0], "svc__gamma": [0.01, 0.1, 1.0, "scale"]}
    search = GridSearchCV(make_pipeline(StandardScaler(), SVC()), grid, cv=CV_FOLDS)
    return SklearnModel(search)


class QuietMLP(MLPClassifier):  # type: ignore[misc]
    """scikit-learn's MLP; a grid point that stops at max_iter is still a valid candidate."""

    def fit(self, X: Any, y: Any) -> QuietMLP:  # noqa: N803 - scikit-learn's name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            super().fit(X, y)
        return self


def mlp() -> Model:
    grid = {
        "quietmlp__hidden_layer_sizes": [(16,), (64,), (32, 32)],
        "quietmlp__alpha": [1e-4, 1e-2],
    }
    estimator = make_pipeline(StandardScaler(), QuietMLP(max_iter=1000, learning_rate_init=0.01))
    return SklearnModel(GridSearchCV(estimator, grid, cv=CV_FOLDS))


# ---- quantum kernel -------------------------------------------------------


def iqp_circuit(x: npt.NDArray[np.float64], bandwidth: float, layers: int = 2) -> QuantumCircuit:
    n = len(x)
    circuit = QuantumCircuit(n)
    for _ in range(layers):
        for q in range(n):
            circuit.h(q)
            circuit.rz(bandwidth * float(x[q]), q)
        for q in range(n):
            r = (q + 1) % n
            if r != q and not (n == 2 and q == 1):
                circuit.rzz(bandwidth**2 * float(x[q] * x[r]), q, r)
    return circuit


def feature_states(x: npt.NDArray[np.float64], bandwidth: float) -> npt.NDArray[np.complex128]:
    return np.stack([Statevector(iqp_circuit(row, bandwidth)).data for row in x])


def fidelity_kernel(
    a: npt.NDArray[np.complex128], b: npt.NDArray[np.complex128]
) -> npt.NDArray[np.float64]:
    return np.asarray(np.abs(a.conj() @ b.T) ** 2, dtype=np.float64)


class QuantumKernelSVM:
    """SVC on the fidelity kernel; bandwidth and C by 5-fold grid search."""

    def __init__(
        self,
        bandwidths: Sequence[float] = (0.1, 0.5, 1.0),
        c_values: Sequence[float] = (0.1, 1.0, 10.0, 100.0),
    ) -> None:
        self.bandwidths, self.c_values = tuple(bandwidths), tuple(c_values)

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        self.scaler_ = StandardScaler().fit(array_features(train))
        x, y = self.scaler_.transform(array_features(train)), require_targets(train)
        folds = list(StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed).split(x, y))
        best = (-1.0, self.bandwidths[0], self.c_values[0])
        for bandwidth in self.bandwidths:
            kernel = fidelity_kernel(*(2 * (feature_states(x, bandwidth),)))
            for c in self.c_values:
                scores = []
                for fit_rows, test_rows in folds:
                    model = SVC(kernel="precomputed", C=c)
                    model.fit(kernel[np.ix_(fit_rows, fit_rows)], y[fit_rows])
                    scores.append(model.score(kernel[np.ix_(test_rows, fit_rows)], y[test_rows]))
                if np.mean(scores) > best[0]:
                    best = (float(np.mean(scores)), bandwidth, c)
        _, self.bandwidth_, self.c_ = best
        self.states_ = feature_states(x, self.bandwidth_)
        self.svc_ = SVC(kernel="precomputed", C=self.c_).fit(
            fidelity_kernel(self.states_, self.states_), y
        )

    def predict(self, dataset: Dataset) -> Predictions:
        states = feature_states(self.scaler_.transform(array_features(dataset)), self.bandwidth_)
        return Predictions(values=self.svc_.predict(fidelity_kernel(states, self.states_)))


# ---- data re-uploading classifier ------------------------------------------


def reuploading_circuit(
    x: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], biases: npt.NDArray[np.float64]
) -> QuantumCircuit:
    """The classifier's circuit for one input; weights and biases have shape (layers, n, 2)."""
    layers, n, _ = weights.shape
    circuit = QuantumCircuit(n)
    for layer in range(layers):
        for q in range(n):
            circuit.ry(float(weights[layer, q, 0] * x[q] + biases[layer, q, 0]), q)
            circuit.rz(float(weights[layer, q, 1] * x[q] + biases[layer, q, 1]), q)
        if n > 1:
            for q in range(n if n > 2 else 1):
                circuit.cz(q, (q + 1) % n)
    return circuit


def _apply_single(state: torch.Tensor, gates: torch.Tensor, qubit: int, n: int) -> torch.Tensor:
    """Apply per-sample 2x2 gates (B, 2, 2) to `qubit` of states (B, 2, ..., 2)."""
    axis = n - qubit  # Qiskit is little-endian: qubit 0 is the last tensor axis
    moved = state.movedim(axis, 1)
    shape = moved.shape
    flat = moved.reshape(shape[0], 2, -1)
    out = torch.bmm(gates, flat).reshape(shape)
    return out.movedim(1, axis)


def _ry(theta: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2).to(torch.complex128)


def _rz(theta: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros_like(theta)
    minus, plus = (
        torch.polar(torch.ones_like(theta), -theta / 2),
        torch.polar(torch.ones_like(theta), theta / 2),
    )
    return torch.stack(
        [
            torch.stack([minus, zero.to(minus.dtype)], -1),
            torch.stack([zero.to(minus.dtype), plus], -1),
        ],
        -2,
    )


def _cz_ring_phases(n: int) -> torch.Tensor:
    index = np.arange(2**n)
    bits = (index[:, None] >> np.arange(n)[None, :]) & 1
    pairs = [(q, (q + 1) % n) for q in range(n if n > 2 else 1)] if n > 1 else []
    sign = np.ones(2**n)
    for a, b in pairs:
        sign *= 1 - 2 * (bits[:, a] & bits[:, b])
    return torch.as_tensor(sign, dtype=torch.complex128)


def reuploading_z(x: torch.Tensor, weights: torch.Tensor, biases: torch.Tensor) -> torch.Tensor:
    """<Z_i> of every qubit of `reuploading_circuit` for a batch x (B, n), in torch (float64)."""
    batch, n = x.shape
    state = torch.zeros((batch, 2**n), dtype=torch.complex128)
    state[:, 0] = 1.0
    state = state.reshape(batch, *([2] * n))
    phases = _cz_ring_phases(n).reshape(*([2] * n))
    for layer in range(weights.shape[0]):
        for q in range(n):
            state = _apply_single(
                state, _ry(weights[layer, q, 0] * x[:, q] + biases[layer, q, 0]), q, n
            )
            state = _apply_single(
                state, _rz(weights[layer, q, 1] * x[:, q] + biases[layer, q, 1]), q, n
            )
        if n > 1:
            state = state * phases
    probs = (state.abs() ** 2).reshape(batch, 2**n)
    bits = (torch.arange(2**n)[:, None] >> torch.arange(n)[None, :]) & 1
    return probs @ (1 - 2 * bits).to(torch.float64)


class ReuploadingNet(nn.Module):
    """The re-uploading circuit's angles and the linear head on its Pauli expectations."""

    def __init__(self, n_qubits: int, layers: int, readout: Readout) -> None:
        super().__init__()
        self.readout = readout
        shape = (layers, n_qubits, 2)
        self.weights = nn.Parameter(torch.randn(*shape, dtype=torch.float64) * 0.5 + 1.0)
        self.biases = nn.Parameter(torch.rand(*shape, dtype=torch.float64) * 2 * np.pi)
        n_out = n_qubits if readout == "all" else 1
        head = torch.cat([torch.full((n_out,), 3.0 / n_out), torch.zeros(1)])
        self.head = nn.Parameter(head.to(torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = reuploading_z(x, self.weights, self.biases)
        if self.readout == "first":
            z = z[:, :1]
        return z @ self.head[:-1] + self.head[-1]


REUPLOADING_TRAINING = TrainConfig(
    max_epochs=100,
    lr=0.05,
    patience=100,
    grad_clip=None,
    threads=1,  # 4-8 qubit statevectors: more threads only spin
    batch_size=1024,  # the whole training set of every QML scenario: full-batch Adam
    device="cpu",  # the statevector simulation builds its tensors on the CPU
)


class ReuploadingClassifier(TorchModel):
    """Data re-uploading circuit trained by the core loop; layers by 5-fold CV.

    The class score is a trained linear function of measured Pauli expectations:
    of every qubit's <Z_i> (`readout="all"`, the default) or of <Z_0> alone
    (`readout="first"`; with one layer <Z_0> then sees only x_0, since the CZ
    ring commutes with Z_0). Training knobs (`max_epochs`, `lr`, `batch_size`, ...)
    are `TrainConfig`'s, as for every torch model.
    """

    def __init__(
        self,
        layers_grid: Annotated[Sequence[Annotated[int, Field(ge=1)]], Field(min_length=1)] = (
            1,
            3,
        ),
        readout: Readout = "all",
        config: TrainConfig | None = None,
    ) -> None:
        super().__init__(config or REUPLOADING_TRAINING)
        self.layers_grid, self.readout = tuple(layers_grid), readout

    def _train(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.int64], layers: int, seed: int
    ) -> ReuploadingNet:
        seed_everything(seed)
        net = ReuploadingNet(x.shape[1], layers, self.readout)
        batches = tensor_batches(x, y.astype(np.float64), batch_size=self.config.batch_size)
        self.train_module(net, batches, nn.functional.binary_cross_entropy_with_logits, seed=seed)
        return net

    def _scores(self, x: npt.NDArray[np.float64], net: ReuploadingNet) -> npt.NDArray[np.float64]:
        with torch.no_grad():
            return np.asarray(net(torch.as_tensor(x)).numpy(), dtype=np.float64)

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid
        self.scaler_ = Standardiser.columns(array_features(train))
        x, y = self.scaler_.apply(array_features(train)), require_targets(train).astype(np.int64)
        folds = list(StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed).split(x, y))
        best = (-1.0, self.layers_grid[0])
        for layers in self.layers_grid:
            accuracy = []
            for k, (fit_rows, test_rows) in enumerate(folds):
                net = self._train(x[fit_rows], y[fit_rows], layers, seed + k)
                accuracy.append(np.mean((self._scores(x[test_rows], net) > 0) == y[test_rows]))
            if np.mean(accuracy) > best[0]:
                best = (float(np.mean(accuracy)), layers)
        self.layers_ = best[1]
        self.net_ = self._train(x, y, self.layers_, seed)

    def fitted_choices(self) -> dict[str, FittedChoice]:
        return {"layers": self.layers_, **super().fitted_choices()}

    def predict(self, dataset: Dataset) -> Predictions:
        scores = self._scores(self.scaler_.apply(array_features(dataset)), self.net_)
        p = 1 / (1 + np.exp(-scores))
        return Predictions(
            values=(scores > 0).astype(np.int64), probabilities=np.stack([1 - p, p], 1)
        )


reuploading = torch_factory(ReuploadingClassifier, REUPLOADING_TRAINING)
"""The re-uploading classifier with every training knob (registered as `quantum.reuploading`)."""
