"""Molecular featurizers: Morgan/ECFP4 bits and counts, RDKit 2D descriptors, MACCS keys.

A feature spec is one block name or several joined by '+' (`"ecfp4+rdkit2d"`).
Vectors are cached per molecule (keyed by the standardised SMILES the
sources store) in memory and in a SQLite store under `ASSAY_HOME/features/`,
so every fold, seed, model, worker process and later run featurises each
molecule of a dataset once.

Descriptor handling: RDKit's full 2D descriptor list (`Descriptors._descList`,
fixed for an RDKit version). A descriptor that fails or is NaN/inf becomes 0,
and every value is clipped to +-1e6 so that a few astronomically large ones
(`Ipc`) cannot swamp a scaler or overflow float32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
import numpy.typing as npt
from assay.kit import Dataset, UnknownNameError
from rdkit import Chem, DataStructs
from rdkit.Chem import Descriptors, rdFingerprintGenerator, rdMolDescriptors
from rdkit.rdBase import BlockLogs

from assay_medicine.chem import mol_from_smiles
from assay_medicine.feature_store import FeatureStore, default_store_path

FP_BITS = 2048
MORGAN_RADIUS = 2
DESCRIPTOR_CLIP = 1e6

Block = Callable[[Chem.Mol], npt.NDArray[np.float64]]


@cache
def _morgan() -> rdFingerprintGenerator.FingerprintGenerator64:
    return rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS, fpSize=FP_BITS)


def ecfp4_bits(mol: Chem.Mol) -> npt.NDArray[np.float64]:
    return np.asarray(_morgan().GetFingerprintAsNumPy(mol), dtype=np.float64)


def ecfp4_counts(mol: Chem.Mol) -> npt.NDArray[np.float64]:
    return np.asarray(_morgan().GetCountFingerprintAsNumPy(mol), dtype=np.float64)


def maccs_keys(mol: Chem.Mol) -> npt.NDArray[np.float64]:
    fp = rdMolDescriptors.GetMACCSKeysFingerprint(mol)
    out = np.zeros(fp.GetNumBits(), dtype=np.float64)
    DataStructs.ConvertToNumpyArray(fp, out)
    return out


def descriptor_names() -> list[str]:
    return [name for name, _ in Descriptors._descList]


def rdkit2d(mol: Chem.Mol) -> npt.NDArray[np.float64]:
    values = np.zeros(len(Descriptors._descList), dtype=np.float64)
    with BlockLogs():
        for i, (_, fn) in enumerate(Descriptors._descList):
            try:
                values[i] = float(fn(mol))
            except Exception:
                values[i] = np.nan  # zeroed below, like inf: one bad descriptor never stops a run
    values[~np.isfinite(values)] = 0.0
    return np.clip(values, -DESCRIPTOR_CLIP, DESCRIPTOR_CLIP)


BLOCKS: dict[str, Block] = {
    "ecfp4": ecfp4_bits,
    "ecfp4_counts": ecfp4_counts,
    "rdkit2d": rdkit2d,
    "maccs": maccs_keys,
}


class FeatureCache:
    """Feature vectors keyed by (block, SMILES): in memory, and on disk when `disk` is set.

    The disk layer (`FeatureStore`, one SQLite file per RDKit version under
    `ASSAY_HOME/features/`) is shared by worker processes and later runs; it
    follows `ASSAY_HOME` if that changes.
    """

    def __init__(self, max_molecules: int = 500_000, *, disk: bool = False) -> None:
        self.max_molecules = max_molecules
        self.disk = disk
        self._store: dict[str, dict[str, npt.NDArray[np.float32]]] = {}
        self._disk_store: FeatureStore | None = None
        self.hits = 0
        self.disk_hits = 0
        self.misses = 0

    def clear(self) -> None:
        self._store.clear()
        self.hits = self.disk_hits = self.misses = 0

    def _on_disk(self) -> FeatureStore | None:
        if not self.disk:
            return None
        path = default_store_path()
        if self._disk_store is None or self._disk_store.path != path:
            if self._disk_store is not None:
                self._disk_store.close()
            self._disk_store = FeatureStore(path)
        return self._disk_store

    def block(self, name: str, smiles: Sequence[str]) -> npt.NDArray[np.float64]:
        fn = block_function(name)
        if not smiles:
            width = len(fn(mol_from_smiles("C")))
            return np.zeros((0, width), dtype=np.float64)
        memory = self._store.setdefault(name, {})
        missing = list(dict.fromkeys(s for s in smiles if s not in memory))
        self.hits += len(smiles) - len(missing)
        disk = self._on_disk()
        if missing and disk is not None:
            found = disk.get(name, missing)
            self.disk_hits += len(found)
            self._remember(memory, found)
            missing = [s for s in missing if s not in found]
        if missing:
            computed = {s: fn(mol_from_smiles(s)).astype(np.float32) for s in missing}
            self.misses += len(computed)
            if disk is not None:
                disk.put(name, computed)
            self._remember(memory, computed)
        return np.vstack([memory[s] for s in smiles]).astype(np.float64)

    def _remember(
        self,
        memory: dict[str, npt.NDArray[np.float32]],
        vectors: dict[str, npt.NDArray[np.float32]],
    ) -> None:
        if len(memory) + len(vectors) > self.max_molecules:  # crude bound: start afresh
            memory.clear()
        memory.update(vectors)


FEATURE_CACHE = FeatureCache(disk=True)
"""The process-wide cache every medicine featurizer uses, backed by the disk store."""


def block_function(name: str) -> Block:
    try:
        return BLOCKS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown molecular feature block '{name}' (known: {', '.join(sorted(BLOCKS))})"
        ) from None


def parse_features(spec: str) -> list[str]:
    blocks = [part.strip() for part in spec.split("+") if part.strip()]
    if not blocks:
        raise UnknownNameError(f"feature spec {spec!r} names no blocks")
    for block in blocks:
        block_function(block)
    return blocks


def smiles_of(dataset: Dataset) -> list[str]:
    """The SMILES inputs of a medicine dataset, as plain strings."""
    return [str(s) for s in np.asarray(dataset.inputs, dtype=object)]


def featurize(
    smiles: Sequence[str], spec: str, cache: FeatureCache | None = None
) -> npt.NDArray[np.float64]:
    """Feature matrix (n_molecules, n_features) for a '+'-joined spec of blocks."""
    store = FEATURE_CACHE if cache is None else cache
    parts = [store.block(block, smiles) for block in parse_features(spec)]
    return np.hstack(parts) if len(parts) > 1 else parts[0]


class MoleculeFeaturizer:
    """A core `Featurizer` (Dataset -> matrix) for a feature spec; picklable."""

    def __init__(self, spec: str = "ecfp4+rdkit2d") -> None:
        parse_features(spec)
        self.spec = spec

    def __call__(self, dataset: Dataset) -> npt.NDArray[np.float64]:
        return featurize(smiles_of(dataset), self.spec)

    def __repr__(self) -> str:
        return f"MoleculeFeaturizer({self.spec!r})"
