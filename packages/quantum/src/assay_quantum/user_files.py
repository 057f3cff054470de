"""Your own circuits with measured and ideal values (e.g. from a hardware run).

The format (one folder, given as the source parameter `path`):

    circuits.qpy          all circuits in one QPY file, or
    circuits/*.qasm       one OpenQASM 3 (or 2) file per circuit, read in file-name order
    values.npz            ideal          (n_circuits, n_qubits)  exact <Z_i>
                          measured       (n_circuits, n_qubits)  measured <Z_i>
                          measured_scale3, measured_scale5 (optional, same shape):
                                         <Z_i> of the globally folded circuits, for ZNE

All circuits have the same width; final measurements are dropped. Values must
be finite and lie in [-1, 1]. The device noise is unknown, so the noise
features read zero and `steps` is the circuit depth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from assay.kit import DataError, Dataset, SourceParams, UserFileSource
from qiskit import QuantumCircuit, qasm2, qasm3  # type: ignore[import-untyped]

from assay_quantum.mitigation_data import (
    ZNE_SCALES,
    circuit_rows,
    load_rows,
    qiskit_versions,
    read_circuits,
    write_circuits,
    write_rows,
)

VALUE_FIELDS = ("measured", "measured_scale3", "measured_scale5")


def read_qasm(path: Path) -> QuantumCircuit:
    """One OpenQASM 3 or 2 file (by its header); any parse problem names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the OpenQASM file ({exc})") from None
    header = text.lstrip().split(";", 1)[0].replace(" ", "").upper()
    try:
        circuit = qasm2.loads(text) if header.startswith("OPENQASM2") else qasm3.loads(text)
    except Exception as exc:  # the parsers raise their own error types
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: malformed OpenQASM ({message})") from None
    return circuit


def circuit_files(folder: Path) -> list[Path]:
    qpy_file = folder / "circuits.qpy"
    if qpy_file.is_file():
        return [qpy_file]
    qasm_dir = folder / "circuits"
    files = sorted(qasm_dir.glob("*.qasm")) if qasm_dir.is_dir() else []
    if not files:
        raise DataError(f"{folder}: expected circuits.qpy or a circuits/ folder of *.qasm files")
    return files


def read_user_circuits(folder: Path) -> list[QuantumCircuit]:
    files = circuit_files(folder)
    circuits = (
        read_circuits(files[0]) if files[0].suffix == ".qpy" else [read_qasm(f) for f in files]
    )
    stripped = []
    for circuit in circuits:
        clean = circuit.remove_final_measurements(inplace=False)
        stripped.append(clean if clean is not None else circuit)
    widths = {c.num_qubits for c in stripped}
    if len(widths) != 1:
        raise DataError(
            f"{folder}: all circuits must have the same number of qubits, got {sorted(widths)}"
        )
    return stripped


def read_values(path: Path, n_circuits: int, n_qubits: int) -> dict[str, npt.NDArray[np.float64]]:
    """The value arrays, each checked for shape (n_circuits, n_qubits), finiteness and range."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
    out: dict[str, npt.NDArray[np.float64]] = {}
    with archive:
        for field in ("ideal", *VALUE_FIELDS):
            if field not in archive.files:
                if field in ("ideal", "measured"):
                    raise DataError(f"{path}: field '{field}' is missing")
                continue
            array = np.asarray(archive[field], dtype=np.float64)
            if array.shape != (n_circuits, n_qubits):
                raise DataError(
                    f"{path}: field '{field}' has shape {array.shape}, expected "
                    f"({n_circuits}, {n_qubits}) for {n_circuits} circuits of {n_qubits} qubits"
                )
            if not np.all(np.isfinite(array)) or np.abs(array).max() > 1 + 1e-9:
                raise DataError(f"{path}: field '{field}' must hold finite values in [-1, 1]")
            out[field] = array
    return out


class UserCircuitParams(SourceParams):
    path: str = ""
    """A folder of .qasm / .qpy circuits and their values.npz."""


class UserCircuitSource(UserFileSource[UserCircuitParams]):
    """Circuits plus measured and ideal <Z_i> from a folder you point to (`path`)."""

    name = "quantum.user_circuits"
    version = "1"
    params_model = UserCircuitParams
    reads_folder = True

    def generator_versions(self) -> dict[str, str]:
        return qiskit_versions()

    def _folder(self, params: UserCircuitParams) -> Path:
        folder = self.given_path(params)
        if not folder.is_dir():
            raise DataError(f"{folder}: folder not found")
        return folder

    def input_files(self, params: UserCircuitParams) -> list[Path]:
        folder = self._folder(params)
        return [*circuit_files(folder), folder / "values.npz"]

    def prepare(self, params: UserCircuitParams, out_dir: Path) -> None:
        folder = self._folder(params)
        circuits = read_user_circuits(folder)
        n_qubits = circuits[0].num_qubits
        values = read_values(folder / "values.npz", len(circuits), n_qubits)
        noisy = np.full((len(circuits), len(ZNE_SCALES), n_qubits), np.nan)
        for s, field in enumerate(VALUE_FIELDS):
            if field in values:
                noisy[:, s, :] = values[field]
        depths = [c.depth() for c in circuits]
        rows = circuit_rows(circuits, noisy, depths, None)
        write_circuits(out_dir / "circuits.qpy", circuits)
        write_rows(out_dir, rows, values["ideal"].reshape(-1))

    def load(self, params: UserCircuitParams, files_dir: Path) -> Dataset:
        folder = self._folder(params)
        return load_rows(
            files_dir,
            self.user_metadata(
                params, files_dir, name=folder.name, version=self.version, what="user circuits"
            ),
        )
