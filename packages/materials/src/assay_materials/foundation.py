"""CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031, 2023), a foundation potential trained on
the Materials Project's DFT relaxations, against the specialists trained here.

Needs the `foundation` extra (`pip install 'assay-materials[foundation]'`);
its wheel ships the pretrained weights, so `CHGNet.load()` runs offline.
Without it, these models are reported as not installed.

- `materials.chgnet_zero_shot`: nothing is fitted. Formation energy per atom
  = CHGNet's energy per atom of the structure minus the fraction-weighted
  CHGNet energies of the pure fcc metals, each evaluated at the geometry the
  EMT data relaxed it to (the same geometry convention as the structures).
  CHGNet learnt DFT (PBE+U); the EMT targets are another level of theory, so
  this measures how far a DFT-trained foundation model transfers.
- `materials.chgnet_calibrated`: the zero-shot energy plus a ridge fit, on
  each training fold, of the residual on the atomic fractions. This is a
  recalibration of the foundation model's output; its weights stay as
  pretrained.
- `materials.chgnet_finetuned` (module `chgnet_finetune`): CHGNet's last
  interaction block and readout fine-tuned on each training fold, energy
  only, against the same fixed references: the target per structure is the
  EMT formation energy plus the fraction-weighted references, so the
  fine-tuned energy minus the references is the formation energy.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from assay.cache import assay_home
from assay.data import Dataset, stable_hash
from assay.errors import DataError, UnknownNameError
from assay.models import require_targets
from assay.predictions import Predictions
from assay.requirements import requires
from sklearn.linear_model import Ridge

from assay_materials.composition import fraction_features
from assay_materials.emt import read_json_list, write_json_atomically
from assay_materials.structures import (
    STRUCTURES,
    detached,
    require_structures,
    structure_to_record,
)

INSTALL_HINT = "pip install 'assay-materials[foundation]'"


def require_chgnet(model: str) -> None:
    if importlib.util.find_spec("chgnet") is None:
        raise UnknownNameError(
            f"model '{model}' needs CHGNet, which is not installed: {INSTALL_HINT}"
        )


@functools.cache
def pretrained_chgnet() -> Any:
    """The pretrained CHGNet, loaded once per process and shared: never train it in place
    (fine-tuning trains a copy)."""
    from chgnet.model.model import CHGNet

    # CHGNet's constructor prints its parameter count to stdout, which belongs to the CLI
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return CHGNet.load(verbose=False)


def chgnet_energies(structures: list[Any], batch_size: int = 16) -> npt.NDArray[np.float64]:
    """CHGNet energies, eV/atom (it predicts per atom)."""
    model = pretrained_chgnet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.predict_structure(structures, task="e", batch_size=batch_size)
    if isinstance(out, dict):
        out = [out]
    return np.array([float(np.asarray(p["e"]).reshape(-1)[0]) for p in out])


@functools.cache
def chgnet_reference(symbol: str) -> float:
    """CHGNet energy per atom of the pure fcc metal at its EMT-relaxed lattice constant."""
    from pymatgen.core.lattice import Lattice
    from pymatgen.core.structure import Structure

    from assay_materials import emt

    if symbol not in emt.ELEMENTS:
        raise DataError(
            f"the CHGNet zero-shot formation energy has fcc references for {list(emt.ELEMENTS)} "
            f"only, not {symbol}"
        )
    _, a = emt.elemental_reference(symbol)
    cubic = Structure(
        Lattice.cubic(a),
        [symbol] * 4,
        np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]], dtype=float),
    )
    return float(chgnet_energies([cubic])[0])


_ZERO_SHOT: dict[str, float] = {}
"""Zero-shot values by structure (a hash of its record): CHGNet is deterministic, and folds,
calibration and campaign seeds ask for the same structures again. Kept on disk per CHGNet
version too, so each worker process of a suite does not ask CHGNet again."""


def _zero_shot_file() -> Path:
    from importlib.metadata import version

    return assay_home() / "materials" / "chgnet" / f"zero-shot-{version('chgnet')}.json"


def _load_saved() -> None:
    """Add the values saved on disk (by this or another process) to the in-process memo."""
    saved = read_json_list(_zero_shot_file()) if _zero_shot_file().is_file() else None
    for key, value in saved or []:
        _ZERO_SHOT.setdefault(str(key), float(value))


def zero_shot_formation(dataset: Dataset) -> npt.NDArray[np.float64]:
    structures, keys = [], []
    for given in require_structures(dataset.inputs, model="CHGNet"):
        structures.append(detached(given))
        keys.append(stable_hash(structure_to_record(structures[-1]))[:32])
    if any(key not in _ZERO_SHOT for key in keys):
        _load_saved()
    missing = [i for i, key in enumerate(keys) if key not in _ZERO_SHOT]
    if missing:
        energies = chgnet_energies([structures[i] for i in missing])
        for i, energy in zip(missing, energies, strict=True):
            symbols = [str(site.specie) for site in structures[i]]
            reference = float(np.mean([chgnet_reference(s) for s in symbols]))
            _ZERO_SHOT[keys[i]] = float(energy) - reference
        _load_saved()  # what another process saved meanwhile joins the union saved here
        write_json_atomically(_zero_shot_file(), sorted(_ZERO_SHOT.items()))
    return np.array([_ZERO_SHOT[key] for key in keys])


@requires(STRUCTURES)
class CHGNetZeroShot:
    """Formation energy from CHGNet's energies and its fcc references; nothing is fitted."""

    def __init__(self) -> None:
        require_chgnet("materials.chgnet_zero_shot")

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del train, valid, seed

    def predict(self, dataset: Dataset) -> Predictions:
        return Predictions(values=zero_shot_formation(dataset))


@requires(STRUCTURES)
class CHGNetCalibrated:
    """CHGNet zero-shot plus a ridge fit of the residual on the atomic fractions, per fold."""

    def __init__(self, alpha: float = 1e-3) -> None:
        require_chgnet("materials.chgnet_calibrated")
        self.alpha = alpha

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        residual = np.asarray(require_targets(train), dtype=np.float64) - zero_shot_formation(train)
        self.ridge_ = Ridge(alpha=self.alpha).fit(fraction_features(train), residual)

    def predict(self, dataset: Dataset) -> Predictions:
        base = zero_shot_formation(dataset)
        return Predictions(values=base + self.ridge_.predict(fraction_features(dataset)))
