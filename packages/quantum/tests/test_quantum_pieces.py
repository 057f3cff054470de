"""Smaller pieces: ZNE algebra, the depth split, noise validation, determinism, decoders."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from assay.data.dataset import Dataset, DatasetMetadata
from assay.errors import DataError, SplitError
from assay_quantum.decoders import unique_syndromes
from assay_quantum.mitigation_data import IsingNoiseSource
from assay_quantum.mitigation_models import ZeroNoiseExtrapolation
from assay_quantum.noise import NoiseParams
from assay_quantum.qml_data import GENERATORS
from assay_quantum.splits import by_steps
from assay_quantum.surface_code import SurfaceCodeSource


def _rows(noisy: np.ndarray, steps: np.ndarray | None = None) -> Dataset:
    n = len(noisy)
    extras = {"noisy": noisy, "zne_scales": np.tile([1.0, 3.0, 5.0], (n, 1))}
    if steps is not None:
        extras["steps"] = steps
    meta = DatasetMetadata("t", "1", provenance="test", licence="test")
    return Dataset(inputs=np.zeros((n, 1)), targets=np.zeros(n), metadata=meta, extras=extras)


def test_zne_linear_and_richardson_are_exact_on_polynomials() -> None:
    scales = np.array([1.0, 3.0, 5.0])
    linear = np.stack([0.9 - 0.1 * scales, 0.5 - 0.05 * scales])
    quadratic = np.stack([0.8 - 0.1 * scales + 0.01 * scales**2])
    np.testing.assert_allclose(
        ZeroNoiseExtrapolation((1, 3)).predict(_rows(linear)).values, [0.9, 0.5]
    )
    np.testing.assert_allclose(
        ZeroNoiseExtrapolation((1, 3, 5)).predict(_rows(quadratic)).values, [0.8]
    )


def test_depth_split_and_its_errors() -> None:
    steps = np.array([1, 5, 10, 11, 15])
    (fold,) = by_steps(_rows(np.zeros((5, 3)), steps), folds=1, repeats=1, seed=0)
    assert fold.train.tolist() == [0, 1, 2]
    assert fold.test.tolist() == [3, 4]
    with pytest.raises(SplitError, match="one side"):
        by_steps(_rows(np.zeros((5, 3)), steps), folds=1, repeats=1, seed=0, max_train_steps=20)
    with pytest.raises(SplitError, match="extras"):
        by_steps(_rows(np.zeros((5, 3))), folds=1, repeats=1, seed=0)


def test_noise_parameters_are_validated() -> None:
    source, given = IsingNoiseSource(), {"circuits_per_step": 1}
    with pytest.raises(DataError, match=r"^quantum.ising_noisy: unknown key 'noise.p3'$"):
        source.validate_params({**given, "noise": {"p3": 0.1}})
    with pytest.raises(DataError, match=r"'noise': noise needs t2_us \(50.0\) <= 2 t1_us"):
        source.validate_params({**given, "noise": {"t1_us": 10, "t2_us": 50}})
    with pytest.raises(DataError, match=r"'noise.readout': Input should be less than 0.5"):
        source.validate_params({**given, "noise": {"readout": 0.5}})
    with pytest.raises(DataError, match=r"'qubits.0': Input should be greater than or equal to 2"):
        source.validate_params({**given, "qubits": [1]})
    assert source.validate_params(given).noise == NoiseParams()
    a = NoiseParams().per_qubit(5)
    np.testing.assert_array_equal(a["t1_us"], NoiseParams().per_qubit(5)["t1_us"])


def test_ising_generation_is_deterministic_without_the_memo() -> None:
    given = {"circuits_per_step": 1, "max_steps": 2, "qubits": [3], "shots": 500, "seed": 4}
    params = IsingNoiseSource().validate_params(given)
    first, second = IsingNoiseSource()._simulate(params), IsingNoiseSource()._simulate(params)
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[2], second[2])


def test_surface_code_source_rejects_bad_params_and_uses_disjoint_seeds(tmp_path: Path) -> None:
    source = SurfaceCodeSource()
    with pytest.raises(DataError, match="odd integer"):
        source.validate_params({"distance": 4, "p": 0.001, "train_shots": 1, "test_shots": 1})
    given = {"distance": 3, "p": 0.01, "train_shots": 2000, "test_shots": 2000, "seed": 1}
    params = source.validate_params(given)
    source.prepare(params, tmp_path)
    dataset = source.load(params, tmp_path)
    train = dataset.inputs.events[dataset.partition == "train"]
    test = dataset.inputs.events[dataset.partition == "test"]
    assert not np.array_equal(train, test)


def test_unique_syndromes_keep_counts_and_fractions() -> None:
    events = np.array([[1, 0], [1, 0], [0, 0], [1, 0]], dtype=bool)
    labels = np.array([1, 0, 0, 1])
    rows, inverse, counts, fraction = unique_syndromes(events, labels)
    np.testing.assert_array_equal(rows[inverse], events)
    assert counts.sum() == 4
    assert fraction[inverse[0]] == pytest.approx(2 / 3)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_qml_generators_are_balanced_and_seeded(name: str) -> None:
    x, y = GENERATORS[name](300, 6, np.random.default_rng(0))
    x2, _ = GENERATORS[name](300, 6, np.random.default_rng(0))
    assert x.shape == (300, 6)
    assert 0.35 < y.mean() < 0.65
    np.testing.assert_array_equal(x, x2)


def test_decoder_refuses_foreign_inputs() -> None:
    from assay_quantum.decoders import MWPMDecoder

    dataset = replace(_rows(np.zeros((3, 3))), inputs=np.zeros((3, 4)))
    with pytest.raises(DataError, match="Syndromes"):
        MWPMDecoder().fit(dataset)
