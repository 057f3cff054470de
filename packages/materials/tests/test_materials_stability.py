"""Stability metrics (Matbench Discovery's F1, precision, recall, DAF), the energy-above-hull
target of the EMT source, and the sources' parameter models."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from assay.data.cache import DataCache
from assay.errors import DataError
from assay.evaluation.predictions import Predictions
from assay.plugin import process_catalog
from assay_materials.metrics import (
    STABLE_TOLERANCE,
    confusion,
    discovery_acceleration,
    f1,
    precision,
    recall,
)
from assay_materials.sources import EmtAlloysSource, ExptFormationEnthalpySource
from assay_materials.user_files import MatbenchFileSource, StructureFolderSource

QUICK = {"n_structures": 80, "min_atoms": 4, "max_atoms": 8, "seed": 0}


def _p(values: list[float]) -> Predictions:
    return Predictions(values=np.array(values))


def test_stability_metrics_of_a_hand_counted_fold() -> None:
    truth = np.array([0.0, 0.0, 0.01, 0.02, 0.0005])
    predicted = _p([0.0, 0.02, 0.0, 0.03, 0.0009])  # TP, FN, FP, TN, TP
    assert confusion(truth, predicted) == (2, 1, 1, 1)
    assert precision(truth, predicted) == pytest.approx(2 / 3)
    assert recall(truth, predicted) == pytest.approx(2 / 3)
    assert f1(truth, predicted) == pytest.approx(2 / 3)
    # Prevalence 3/5: picking the predicted-stable beats random by (2/3) / (3/5).
    assert discovery_acceleration(truth, predicted) == pytest.approx(10 / 9)
    # The threshold is inclusive: exactly STABLE_TOLERANCE above the hull is stable.
    assert confusion(np.array([STABLE_TOLERANCE]), _p([STABLE_TOLERANCE])) == (1, 0, 0, 0)


def test_a_model_calling_nothing_stable_scores_zero_and_empty_folds_are_undefined() -> None:
    truth = np.array([0.0, 0.01, 0.02, 0.0])
    mean_like = _p([0.0075] * 4)
    assert precision(truth, mean_like) == 0.0
    assert f1(truth, mean_like) == 0.0
    assert discovery_acceleration(truth, mean_like) == 0.0
    no_stable = np.array([0.01, 0.02])
    assert math.isnan(recall(no_stable, _p([0.0, 0.0])))
    assert math.isnan(discovery_acceleration(no_stable, _p([0.0, 0.0])))
    # A perfect ranking reaches the ceiling 1 / prevalence.
    assert discovery_acceleration(truth, _p(list(truth))) == pytest.approx(2.0)


def test_stability_metrics_are_registered_with_their_bounds() -> None:
    metrics = process_catalog().metrics
    assert metrics.get("materials.stability_f1").bounds == (0.0, 1.0)
    assert metrics.get("materials.daf").bounds == (0.0, math.inf)
    assert metrics.get("materials.daf").direction == "maximize"


def test_e_above_hull_target_keeps_the_formation_energy_as_an_extra(tmp_path: Path) -> None:
    cache = DataCache(tmp_path)
    default, _ = cache.load(EmtAlloysSource(), QUICK)
    stability, _ = cache.load(EmtAlloysSource(), {**QUICK, "target": "e_above_hull"})
    assert "formation_energy" not in default.extras
    assert default.metadata.name == "emt-alloys"
    assert stability.targets is not None
    assert default.targets is not None
    np.testing.assert_array_equal(stability.targets, default.extras["e_above_hull"])
    np.testing.assert_array_equal(stability.extras["formation_energy"], default.targets)
    assert stability.targets.min() >= 0.0
    stable = stability.targets <= STABLE_TOLERANCE
    np.testing.assert_array_equal(stable.astype(np.int64), stability.extras["stable"])
    assert 0 < stable.sum() < len(stable)
    # The default target leaves the cache key of the params as given unchanged.
    assert cache.key(EmtAlloysSource(), QUICK) != cache.key(
        EmtAlloysSource(), {**QUICK, "target": "e_above_hull"}
    )
    assert EmtAlloysSource().validate_params({}).target == "formation_energy"


@pytest.mark.parametrize(
    ("source", "params", "key"),
    [
        (EmtAlloysSource(), {"n_structures": 5}, "n_structures"),
        (EmtAlloysSource(), {"elements": "CuAl"}, "elements"),
        (EmtAlloysSource(), {"seed": -1}, "seed"),
        (EmtAlloysSource(), {"target": "band_gap"}, "target"),
        (EmtAlloysSource(), {"n_structures": "400"}, "n_structures"),
        (EmtAlloysSource(), {"min_atoms": 9, "max_atoms": 4}, "max_atoms"),
        (ExptFormationEnthalpySource(), {"max_rows": 5}, "max_rows"),
        (ExptFormationEnthalpySource(), {"max_rows": True}, "max_rows"),
        (MatbenchFileSource(), {"path": "example", "columns": "x"}, "columns"),
        (StructureFolderSource(), {"path": "example", "target_column": 3}, "target_column"),
    ],
)
def test_bad_source_parameters_are_one_line_naming_the_key(
    source: Any, params: dict[str, Any], key: str
) -> None:
    with pytest.raises(DataError, match=key) as caught:
        source.validate_params(params)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(source.name)
