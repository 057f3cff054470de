"""Molecules: parsing, standardisation, Bemis-Murcko scaffolds, and curation of labelled rows.

Every source funnels its rows through `curate`, so the rules are the same for
bundled data and a user's file:

- Each SMILES is parsed and sanitised by RDKit, cleaned up
  (`rdMolStandardize.Cleanup`: normalised functional groups, reionised) and,
  when it holds several fragments (salts, solvents), reduced to its largest
  organic fragment. The canonical isomeric SMILES of the result is kept.
- A row whose SMILES does not parse, or whose target is missing or not a
  finite number, is an error naming the row (`on_invalid = "error"`, the
  default) or is dropped and listed in the dataset notes
  (`on_invalid = "drop"`). Nothing is skipped silently.
- Duplicate policy: rows with the same standardised SMILES (within one
  partition of a fixed split) are merged into one row at the first
  occurrence, with the mean target. If their targets spread by more than
  `conflict_tolerance` they are *conflicting* and `conflicts` decides:
  `"mean"` (default) keeps the merged mean, `"drop"` removes the molecule,
  `"error"` refuses the file. Every merge and conflict is listed in the
  notes. A molecule in both partitions of a fixed split is reported, never
  changed (the published split is kept as published).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from assay.kit import DataError
from rdkit import Chem
from rdkit.Chem.MolStandardize import rdMolStandardize
from rdkit.Chem.Scaffolds import MurckoScaffold
from rdkit.rdBase import BlockLogs

OnInvalid = Literal["error", "drop"]
ConflictPolicy = Literal["mean", "drop", "error"]
ON_INVALID: tuple[str, ...] = ("error", "drop")
CONFLICT_POLICIES: tuple[str, ...] = ("mean", "drop", "error")
CURATION_VERSION = "1"
"""Bumped when the curation rules change; part of every medicine source's cache key."""
MAX_LISTED = 10
"""How many rows a note lists by name before it says 'and N more'."""


@dataclass(frozen=True)
class Row:
    """One labelled molecule as read from a file, before curation."""

    smiles: str
    target: float
    where: str
    """How a user finds the row: 'line 7', 'record 3'."""
    extras: Mapping[str, float] = field(default_factory=dict)
    partition: str | None = None
    problem: str = ""
    """Set by a reader that already knows the row is bad (an unreadable SDF record)."""


@dataclass(frozen=True)
class CuratedTable:
    smiles: list[str]
    targets: npt.NDArray[np.float64]
    scaffolds: list[str]
    extras: dict[str, npt.NDArray[np.float64]]
    partition: list[str] | None
    notes: list[str]

    def __len__(self) -> int:
        return len(self.smiles)

    def subset(self, rows: Sequence[int]) -> CuratedTable:
        idx = np.asarray(rows, dtype=np.int64)
        return CuratedTable(
            smiles=[self.smiles[i] for i in idx],
            targets=self.targets[idx],
            scaffolds=[self.scaffolds[i] for i in idx],
            extras={k: v[idx] for k, v in self.extras.items()},
            partition=None if self.partition is None else [self.partition[i] for i in idx],
            notes=list(self.notes),
        )


def parse_smiles(smiles: str) -> Chem.Mol | None:
    """The sanitised molecule, or None when RDKit cannot read it (or it has no atoms)."""
    with BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return mol


def mol_from_smiles(smiles: str) -> Chem.Mol:
    """Like `parse_smiles`, for SMILES that were already validated (a DataError otherwise)."""
    mol = parse_smiles(smiles)
    if mol is None:
        raise DataError(f"invalid SMILES {smiles!r}")
    return mol


def standardise(mol: Chem.Mol) -> tuple[Chem.Mol, bool]:
    """Cleaned-up molecule, reduced to its largest organic fragment; True if fragments were cut."""
    with BlockLogs():
        clean = rdMolStandardize.Cleanup(mol)
        stripped = len(Chem.GetMolFrags(clean)) > 1
        if stripped:
            clean = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(clean)
    return clean, stripped


def standard_smiles(smiles: str) -> str | None:
    """Canonical isomeric SMILES after standardisation, or None for an invalid SMILES."""
    mol = parse_smiles(smiles)
    if mol is None:
        return None
    clean, _ = standardise(mol)
    return str(Chem.MolToSmiles(clean))


def murcko_scaffold(smiles: str) -> str:
    """Bemis-Murcko scaffold SMILES without chirality; '' for acyclic molecules."""
    mol = mol_from_smiles(smiles)
    with BlockLogs():
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)  # type: ignore[no-untyped-call]
        return str(Chem.MolToSmiles(scaffold, isomericSmiles=False))


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def _row_problem(row: Row) -> tuple[str | None, str, bool]:
    """(standardised SMILES or None, problem or '', whether fragments were cut)."""
    if row.problem:
        return None, row.problem, False
    if not isinstance(row.target, float | int) or not math.isfinite(float(row.target)):
        return None, "target is missing or not a number", False
    text = row.smiles.strip() if isinstance(row.smiles, str) else ""
    if not text:
        return None, "SMILES is missing", False
    mol = parse_smiles(text)
    if mol is None:
        return None, f"invalid SMILES {text!r}", False
    clean, stripped = standardise(mol)
    return str(Chem.MolToSmiles(clean)), "", stripped


def curate(
    rows: Iterable[Row],
    *,
    name: str,
    on_invalid: str = "error",
    conflicts: str = "mean",
    conflict_tolerance: float = 0.5,
) -> CuratedTable:
    """Parse, standardise, check and de-duplicate rows under the module's documented policy."""
    if on_invalid not in ON_INVALID:
        raise DataError(f"{name}: on_invalid must be one of {list(ON_INVALID)}, got {on_invalid!r}")
    if conflicts not in CONFLICT_POLICIES:
        raise DataError(
            f"{name}: conflicts must be one of {list(CONFLICT_POLICIES)}, got {conflicts!r}"
        )
    notes: list[str] = []
    dropped: list[str] = []
    kept: list[tuple[str, Row]] = []
    n_rows = 0
    n_stripped = 0
    for row in rows:
        n_rows += 1
        smiles, problem, stripped = _row_problem(row)
        if smiles is None:
            if on_invalid == "error":
                raise DataError(
                    f"{name} {row.where}: {problem}; fix or remove the row, "
                    'or set on_invalid = "drop" to drop such rows'
                )
            dropped.append(f"{row.where} ({problem})")
            continue
        n_stripped += stripped
        kept.append((smiles, row))
    if n_rows == 0:
        raise DataError(f"{name}: no data rows")
    if dropped:
        notes.append(f"dropped {len(dropped)} of {n_rows} rows: {_listed(dropped)}")
    if not kept:
        raise DataError(f"{name}: every one of the {n_rows} rows is invalid")
    if n_stripped:
        notes.append(f"{n_stripped} rows had several fragments; the largest organic one was kept")
    return _merge_duplicates(kept, name, notes, conflicts, conflict_tolerance)


def _merge_duplicates(
    kept: list[tuple[str, Row]],
    name: str,
    notes: list[str],
    conflicts: str,
    tolerance: float,
) -> CuratedTable:
    buckets: dict[tuple[str, str | None], list[Row]] = {}
    for smiles, row in kept:
        buckets.setdefault((smiles, row.partition), []).append(row)
    merged: list[str] = []
    conflicting: list[str] = []
    out_smiles: list[str] = []
    out_targets: list[float] = []
    out_partition: list[str | None] = []
    extra_names = sorted({k for _, row in kept for k in row.extras})
    out_extras: dict[str, list[float]] = {k: [] for k in extra_names}
    for (smiles, part), group in buckets.items():  # dicts keep first-occurrence order
        targets = np.array([float(r.target) for r in group])
        if len(group) > 1:
            where = "/".join(r.where for r in group)
            spread = float(targets.max() - targets.min())
            if spread > tolerance:
                label = f"{smiles} ({where}, targets {', '.join(f'{t:g}' for t in targets)})"
                if conflicts == "error":
                    raise DataError(
                        f"{name}: {label} are the same molecule with labels spread by {spread:g} "
                        f"(> conflict_tolerance {tolerance:g}); fix them, or set conflicts = "
                        '"mean" or "drop"'
                    )
                conflicting.append(label)
                if conflicts == "drop":
                    continue
            else:
                merged.append(f"{smiles} ({where})")
        out_smiles.append(smiles)
        out_targets.append(float(targets.mean()))
        out_partition.append(part)
        for k in extra_names:
            values = [float(r.extras[k]) for r in group if k in r.extras]
            out_extras[k].append(float(np.mean(values)) if values else math.nan)
    if merged:
        notes.append(f"merged {len(merged)} duplicate molecules (mean target): {_listed(merged)}")
    if conflicting:
        action = "dropped" if conflicts == "drop" else "merged to their mean"
        notes.append(
            f"{len(conflicting)} duplicate molecules with labels spread > {tolerance:g} "
            f"({action}): {_listed(conflicting)}"
        )
    if not out_smiles:
        raise DataError(f"{name}: no rows left after dropping conflicting duplicates")
    partition: list[str] | None = None
    if any(p is not None for p in out_partition):
        partition = [str(p) for p in out_partition]
        by_part: dict[str, set[str]] = {}
        for smiles, label in zip(out_smiles, partition, strict=True):
            by_part.setdefault(label, set()).add(smiles)
        if len(by_part) > 1:
            sets = list(by_part.values())
            shared = sorted(set.intersection(*sets))
            if shared:
                notes.append(
                    f"{len(shared)} molecules occur in more than one partition of the fixed "
                    f"split (kept as published): {_listed(shared)}"
                )
    return CuratedTable(
        smiles=out_smiles,
        targets=np.asarray(out_targets, dtype=np.float64),
        scaffolds=[murcko_scaffold(s) for s in out_smiles],
        extras={k: np.asarray(v, dtype=np.float64) for k, v in out_extras.items()},
        partition=partition,
        notes=notes,
    )


def as_float(value: Any) -> float:
    """A cell as float; NaN for anything that is not a number (curation then names the row)."""
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
