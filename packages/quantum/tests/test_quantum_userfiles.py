"""The user format: circuits (OpenQASM 3 or QPY) plus measured and ideal values."""

from pathlib import Path

import numpy as np
import pytest
from assay.data.cache import DataCache
from assay.errors import DataError
from assay_quantum.mitigation_models import Unmitigated, ZeroNoiseExtrapolation
from assay_quantum.user_files import UserCircuitSource
from quantum_fixtures import (
    N_CIRCUITS,
    N_QUBITS,
    broken_qasm_folder,
    qasm_folder,
    qpy_folder,
    wrong_shape_folder,
)


@pytest.mark.parametrize("make", [qasm_folder, qpy_folder])
def test_user_folder_loads_and_zne_runs(make, tmp_path: Path) -> None:
    folder = make(tmp_path / "in")
    dataset, entry = DataCache(tmp_path / "cache").load(UserCircuitSource(), {"path": str(folder)})
    assert len(dataset) == N_CIRCUITS * N_QUBITS
    Unmitigated().predict(dataset)
    zne = ZeroNoiseExtrapolation(scales=(1, 3))
    # measured = 0.9 ideal and scale-3 = 0.7 ideal extrapolate linearly to ideal at scale 0.
    np.testing.assert_allclose(zne.predict(dataset).values, dataset.targets, atol=1e-9)
    with pytest.raises(DataError, match="scale factors"):
        ZeroNoiseExtrapolation(scales=(1, 3, 5)).predict(dataset)
    manifest = (entry.path / "manifest.json").read_text()
    assert "qiskit-aer" in manifest
    card = dataset.metadata
    assert card.provenance.startswith(f"user circuits {folder}/circuits")
    assert "(sha256 " in card.provenance
    assert card.licence == "user-supplied data (licence as given by its owner)"


def test_malformed_qasm_names_the_file(tmp_path: Path) -> None:
    folder = broken_qasm_folder(tmp_path)
    with pytest.raises(DataError, match=r"c01\.qasm: malformed OpenQASM"):
        DataCache(tmp_path / "cache").load(UserCircuitSource(), {"path": str(folder)})


def test_wrong_shape_values_name_the_field(tmp_path: Path) -> None:
    folder = wrong_shape_folder(tmp_path)
    with pytest.raises(DataError, match=r"values\.npz: field 'measured' has shape \(3, 4\)"):
        DataCache(tmp_path / "cache").load(UserCircuitSource(), {"path": str(folder)})


def test_missing_field_and_nan_are_refused(tmp_path: Path) -> None:
    folder = qpy_folder(tmp_path)
    np.savez(folder / "values.npz", ideal=np.zeros((N_CIRCUITS, N_QUBITS)))
    with pytest.raises(DataError, match="field 'measured' is missing"):
        DataCache(tmp_path / "c1").load(UserCircuitSource(), {"path": str(folder)})
    bad = np.zeros((N_CIRCUITS, N_QUBITS))
    bad[0, 0] = np.nan
    np.savez(folder / "values.npz", ideal=bad, measured=bad)
    with pytest.raises(DataError, match="finite values"):
        DataCache(tmp_path / "c2").load(UserCircuitSource(), {"path": str(folder)})


def test_foreign_and_missing_files(tmp_path: Path) -> None:
    folder = qpy_folder(tmp_path)
    (folder / "circuits.qpy").write_bytes(b"not a qpy file")
    with pytest.raises(DataError, match=r"circuits\.qpy: not a readable QPY"):
        DataCache(tmp_path / "c1").load(UserCircuitSource(), {"path": str(folder)})
    with pytest.raises(DataError, match="folder not found"):
        DataCache(tmp_path / "c2").load(UserCircuitSource(), {"path": str(tmp_path / "nope")})
