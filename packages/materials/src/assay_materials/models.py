"""Classical models: a linear model on the fractional composition and a random forest on
composition statistics (the RF-SCM/Magpie analogue of Matbench), with structure
features where the inputs are structures. The Dummy is the core's `mean`."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from assay.kit import Dataset, SklearnModel, current_budget
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge

from assay_materials.composition import fraction_features, statistics_features
from assay_materials.structures import detached

STRUCTURE_FEATURES = ("volume_per_atom", "density", "packing_fraction", "min_distance", "n_sites")


def structure_features(dataset: Dataset) -> npt.NDArray[np.float64] | None:
    """Per-structure geometry (None when the inputs are formulas)."""
    from pymatgen.core.structure import Structure

    if len(dataset) == 0 or not isinstance(dataset.inputs[0], Structure):
        return None
    rows = []
    for given in dataset.inputs:
        structure = detached(given)
        volume = float(structure.volume)
        n = len(structure)
        radii = [float(site.specie.atomic_radius or 1.5) for site in structure]
        packing = sum(4.0 / 3.0 * np.pi * r**3 for r in radii) / volume
        if n > 1:
            distances = structure.distance_matrix + np.eye(n) * 1e9
            closest = float(distances.min())
        else:
            closest = float(min(structure.lattice.abc))
        rows.append([volume / n, float(structure.density), packing, closest, float(n)])
    return np.array(rows)


def composition_and_structure(dataset: Dataset) -> npt.NDArray[np.float64]:
    stats = statistics_features(dataset)
    geometry = structure_features(dataset)
    return stats if geometry is None else np.hstack([stats, geometry])


def linear_composition(alpha: float = 1e-3) -> SklearnModel:
    """Ridge on the atomic fractions over Z = 1..103: one fitted energy per element, the
    classical 'sum of elemental contributions' baseline."""
    return SklearnModel(Ridge(alpha=alpha), featurizer=fraction_features)


def random_forest(n_estimators: int = 300, max_features: Any = 0.33) -> SklearnModel:
    """Random forest on Magpie-style statistics (+ structure features for structures)."""
    return SklearnModel(
        RandomForestRegressor(
            n_estimators=n_estimators, max_features=max_features, n_jobs=current_budget() or 1
        ),
        featurizer=composition_and_structure,
    )
