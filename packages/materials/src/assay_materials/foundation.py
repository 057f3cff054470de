"""Foundation potentials against the specialists trained here: what every potential shares.

Two pretrained universal potentials sit in the `foundation` extra
(`pip install 'assay-materials[foundation]'`), both with their weights in
their wheels, so nothing is downloaded: CHGNet (module `chgnet`) and
SevenNet-0 (module `sevennet`). Each is a `Potential`: how to load it, its
energies per atom, and, for fine-tuning, how its network splits into a
frozen part and a last interaction block. Everything else is written once,
here and in `finetune`:

- `<name>_zero_shot`: nothing is fitted. Formation energy per atom = the
  potential's energy per atom of the structure minus the fraction-weighted
  energies of the pure fcc metals, each evaluated at the geometry the EMT
  data relaxed it to (the same geometry convention as the structures). Both
  potentials learnt DFT (PBE/PBE+U, the Materials Project's relaxations);
  the EMT targets are another level of theory, so this measures how far a
  DFT-trained foundation model transfers.
- `<name>_calibrated`: the zero-shot energy plus a ridge fit, on each
  training fold, of the residual on the atomic fractions: a recalibration of
  the foundation model's output; its weights stay as pretrained.
- `<name>_finetuned` (module `finetune`): the last interaction block and
  readout fine-tuned on each training fold against the same fixed references.
- the alloy loop's `<name>_prior` ranks candidates by the zero-shot values.

Without the extra, these models are reported as not installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import torch
from assay.kit import (
    AssayError,
    DataError,
    Dataset,
    Predictions,
    UnknownNameError,
    assay_home,
    require_targets,
    requires,
    stable_hash,
)
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


class Potential(ABC):
    """A pretrained universal potential as the materials models use it. Subclasses say how
    to load it and run it; the kit below does the rest the same way for each."""

    label: ClassVar[str]
    """The name in messages and on the cards ("CHGNet")."""
    package: ClassVar[str]
    """Its import (and distribution) name, which the `foundation` extra installs."""
    weights: ClassVar[str] = ""
    """Which pretrained weights, when the package ships several (part of the cache file name)."""

    # -- what every potential provides --------------------------------------------------

    @abstractmethod
    def load(self) -> torch.nn.Module:
        """The pretrained network from the installed package, in eval mode, without the network."""

    @abstractmethod
    def energies(self, net: Any, structures: list[Any]) -> npt.NDArray[np.float64]:
        """Energies of the structures, eV/atom."""

    # -- what fine-tuning needs ---------------------------------------------------------

    @abstractmethod
    def freeze(self, net: Any, trainable_blocks: int) -> list[str]:
        """Freeze every weight except the last `trainable_blocks` interaction blocks and the
        readout; the names of the parameters left trainable."""

    @abstractmethod
    def graph(self, net: Any, structure: Any, device: torch.device) -> Any:
        """The structure as the network's input (coordinates without gradients: energies only)."""

    @abstractmethod
    def forward(self, net: Any, graphs: list[Any]) -> torch.Tensor:
        """Energies per atom of several graphs through the whole network."""

    @abstractmethod
    def last_block_inputs(self, net: Any, graphs: list[Any]) -> tuple[list[Any], torch.Tensor]:
        """One pass of the frozen layers per structure: what the last interaction block
        receives (detached), and the network's energies per atom (to check the stored path)."""

    @abstractmethod
    def join(self, stored: list[Any], device: torch.device) -> Any:
        """Stored last-block inputs of several structures joined into one batch."""

    @abstractmethod
    def last_block(self, net: Any, batch: Any) -> torch.Tensor:
        """Energies per atom from a joined batch through the last block and the readout."""

    # -- the kit --------------------------------------------------------------------------

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def require(
        self, name: str, *, kind: str = "model", error: type[AssayError] = UnknownNameError
    ) -> None:
        """One line when the extra is missing."""
        if not self.installed():
            raise error(
                f"{kind} '{name}' needs {self.label}, which is not installed: {INSTALL_HINT}"
            )

    def version(self) -> str:
        from importlib.metadata import version

        return version(self.package)

    def pretrained(self) -> Any:
        """The pretrained network, loaded once per process and shared: never train it in place
        (fine-tuning trains a copy)."""
        if self.label not in _PRETRAINED:
            # constructors print their parameter counts to stdout, which belongs to the CLI
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                _PRETRAINED[self.label] = self.load()
        return _PRETRAINED[self.label]

    def reference(self, symbol: str) -> float:
        """Energy per atom of the pure fcc metal at its EMT-relaxed lattice constant."""
        key = (self.label, symbol)
        if key not in _REFERENCES:
            from pymatgen.core.lattice import Lattice
            from pymatgen.core.structure import Structure

            from assay_materials import emt

            if symbol not in emt.ELEMENTS:
                raise DataError(
                    f"the {self.label} zero-shot formation energy has fcc references for "
                    f"{list(emt.ELEMENTS)} only, not {symbol}"
                )
            _, a = emt.elemental_reference(symbol)
            cubic = Structure(
                Lattice.cubic(a),
                [symbol] * 4,
                np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]], dtype=float),
            )
            _REFERENCES[key] = float(self.energies(self.pretrained(), [cubic])[0])
        return _REFERENCES[key]

    def references(self, structure: Any) -> float:
        """The structure's fraction-weighted elemental reference, eV/atom."""
        return float(np.mean([self.reference(str(site.specie)) for site in structure]))

    def zero_shot_file(self) -> Path:
        """Zero-shot values on disk, per potential, package version and weights."""
        weights = f"-{self.weights}" if self.weights else ""
        return (
            assay_home() / "materials" / self.package / f"zero-shot-{self.version()}{weights}.json"
        )

    def zero_shot_formation(self, dataset: Dataset) -> npt.NDArray[np.float64]:
        """Formation energies, eV/atom: energy per atom minus the fcc references. Kept by
        structure (a hash of its record) in the process and on disk: the potentials are
        deterministic, and folds, calibration, campaign seeds and the other worker processes
        of a suite ask for the same structures again."""
        memo = _ZERO_SHOT.setdefault(self.label, {})
        structures, keys = [], []
        for given in require_structures(dataset.inputs, model=self.label):
            structures.append(detached(given))
            keys.append(stable_hash(structure_to_record(structures[-1]))[:32])
        if any(key not in memo for key in keys):
            self._load_saved(memo)
        missing = [i for i, key in enumerate(keys) if key not in memo]
        if missing:
            energies = self.energies(self.pretrained(), [structures[i] for i in missing])
            for i, energy in zip(missing, energies, strict=True):
                memo[keys[i]] = float(energy) - self.references(structures[i])
            self._load_saved(memo)  # what another process saved meanwhile joins the union
            write_json_atomically(self.zero_shot_file(), sorted(memo.items()))
        return np.array([memo[key] for key in keys])

    def _load_saved(self, memo: dict[str, float]) -> None:
        path = self.zero_shot_file()
        for key, value in (read_json_list(path) if path.is_file() else None) or []:
            memo.setdefault(str(key), float(value))


_PRETRAINED: dict[str, Any] = {}
_REFERENCES: dict[tuple[str, str], float] = {}
_ZERO_SHOT: dict[str, dict[str, float]] = {}
"""Zero-shot values by potential, then by structure key (see `zero_shot_formation`)."""


@requires(STRUCTURES)
class ZeroShot:
    """Formation energy from a potential's energies and its fcc references; nothing is fitted."""

    potential: ClassVar[Potential]
    name: ClassVar[str]

    def __init__(self) -> None:
        self.potential.require(self.name)

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del train, valid, seed

    def predict(self, dataset: Dataset) -> Predictions:
        return Predictions(values=self.potential.zero_shot_formation(dataset))


@requires(STRUCTURES)
class Calibrated:
    """The zero-shot value plus a ridge fit of the residual on the atomic fractions, per fold."""

    potential: ClassVar[Potential]
    name: ClassVar[str]

    def __init__(self, alpha: float = 1e-3) -> None:
        self.potential.require(self.name)
        self.alpha = alpha

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        del valid, seed
        base = self.potential.zero_shot_formation(train)
        residual = np.asarray(require_targets(train), dtype=np.float64) - base
        self.ridge_ = Ridge(alpha=self.alpha).fit(fraction_features(train), residual)

    def predict(self, dataset: Dataset) -> Predictions:
        base = self.potential.zero_shot_formation(dataset)
        return Predictions(values=base + self.ridge_.predict(fraction_features(dataset)))
