"""Substructure, features, metrics and the split on small hand-made inputs."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import awkward as ak
import fastjet  # type: ignore[import-untyped]
import numpy as np
import pytest
from assay.data.dataset import Dataset, DatasetMetadata
from assay.errors import DataError, SplitError
from assay.evaluation.metrics import Bound, Metric, bound_info
from assay.evaluation.predictions import Predictions
from assay_hep import chunks, models
from assay_hep.chunks import CHUNK_FORMAT, SPLITS, chunk_path, chunk_seed
from assay_hep.features import particle_features, substructure_features
from assay_hep.generator import PROCESSES, ChunkSpec
from assay_hep.metrics import HEP_METRICS, JETCLASS_ORDER, rejection_at
from assay_hep.sources import PythiaJetSource
from assay_hep.splits import generator_seeds
from assay_hep.substructure import jet_substructure, substructure_table
from sklearn.metrics import roc_auc_score


def p4(pt: float, eta: float, phi: float) -> list[float]:
    return [pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)]


def test_soft_drop_grooms_a_soft_wide_particle_and_keeps_two_hard_prongs() -> None:
    hard = [p4(300, 0.0, 0.0), p4(200, 0.3, 0.1)]
    soft = [p4(5, 0.6, -0.5)]
    mass, sd_mass, _ = jet_substructure(np.array(hard + soft))
    two_prong_mass, _, _ = jet_substructure(np.array(hard))
    assert sd_mass == pytest.approx(two_prong_mass, rel=1e-9)
    assert mass > sd_mass


def test_n_subjettiness_sees_the_number_of_prongs() -> None:
    two = np.array([p4(300, 0.0, 0.0), p4(1, 0.05, 0.0), p4(200, 0.4, 0.2), p4(1, 0.42, 0.2)])
    _, _, taus = jet_substructure(two)
    assert taus[1] < 0.1 * taus[0]  # two prongs: tau2 << tau1
    single = np.array([p4(100, 0.0, 0.0)])
    _, _, taus = jet_substructure(single)
    np.testing.assert_array_equal(taus, 0.0)


def test_substructure_of_many_jets_at_once_is_each_jet_alone_to_the_byte() -> None:
    """The taus of all jets come from one numpy pass: every jet, also one with fewer
    constituents than axes or none, must get exactly what it gets alone."""
    rng = np.random.default_rng(7)
    jets = [
        np.array(
            [
                p4(pt, eta, phi)
                for pt, eta, phi in rng.uniform([1, -0.5, -0.5], [300, 0.5, 0.5], (n, 3))
            ]
        ).reshape(-1, 4)
        for n in (40, 0, 1, 3, 4, 17, 2)
    ]
    together = substructure_table(jets)
    for i, jet in enumerate(jets):
        alone = substructure_table([jet])
        for name, column in together.items():
            assert column[i].tobytes() == alone[name][0].tobytes(), (name, len(jet))
    assert together["jet_tau4"][3] == 0.0  # 3 constituents: no tau4
    assert together["jet_tau3"][3] > 0.0


def test_particle_features_are_padded_and_masked() -> None:
    jets = ak.zip(
        {
            "part_px": [[10.0, 30.0], [5.0]],
            "part_py": [[0.0, 1.0], [0.5]],
            "part_pz": [[1.0, 2.0], [0.0]],
            "part_energy": [[10.1, 30.1], [5.1]],
            "jet_pt": [40.0, 5.0],
            "jet_eta": [0.07, 0.0],
            "jet_phi": [0.02, 0.1],
            "jet_energy": [40.2, 5.1],
        },
        depth_limit=1,
    )
    features, mask = particle_features(jets, 3)
    assert features.shape == (2, 3, 7)
    np.testing.assert_array_equal(mask, [[True, True, False], [True, False, False]])
    assert features[0, 0, 2] == pytest.approx(np.log(np.hypot(30.0, 1.0)), rel=1e-6)  # pT order
    assert np.all(features[~mask] == 0)


def test_substructure_features_ratios() -> None:
    jets = ak.zip(
        {
            "jet_pt": [600.0],
            "jet_eta": [0.0],
            "jet_energy": [625.0],
            "jet_sdmass": [170.0],
            "jet_nparticles": [50.0],
            "jet_tau1": [0.4],
            "jet_tau2": [0.2],
            "jet_tau3": [0.1],
            "jet_tau4": [0.0],
        },
        depth_limit=1,
    )
    x = substructure_features(jets)[0]
    assert x[0] == pytest.approx(175.0)  # sqrt(625^2 - 600^2)
    assert x[6:9] == pytest.approx([0.5, 0.5, 0.0])


def test_rejection_at_fixed_efficiency() -> None:
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.75, 0.5, 0.4, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2])
    # eps_S = 0.5 at threshold 0.8: no background above -> capped at 1/n_background
    assert rejection_at(y, scores, 0.5) == pytest.approx(10.0)
    # eps_S = 0.75 needs threshold 0.7: one background jet (0.75) passes -> 1/eps_B = 10
    assert rejection_at(y, scores, 0.75) == pytest.approx(10.0)
    assert rejection_at(y, scores, 1.0) == pytest.approx(1.0)
    # Two background jets of 40 pass eps_S = 0.5 (threshold 0.7): 1/eps_B = 20, not the cap.
    y40 = np.r_[np.ones(4, int), np.zeros(40, int)]
    s40 = np.r_[[0.9, 0.7, 0.3, 0.1], [0.8, 0.75], np.full(38, 0.05)]
    assert rejection_at(y40, s40, 0.5) == pytest.approx(20.0)


def test_rejection_with_tied_scores_reads_the_first_threshold_reaching_the_efficiency() -> None:
    # Discrete scores (a binned tagger): at each of 4, 3, 2, 1 one signal and one background
    # jet tie; 16 background jets score 0. The ROC points lie on one straight line, which
    # roc_curve's default would thin out. eps_S = 0.5 is reached at score 3: eps_B = 2/20.
    y = np.r_[np.ones(4, int), np.zeros(20, int)]
    scores = np.r_[[4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0], np.zeros(16)]
    assert rejection_at(y, scores, 0.5) == pytest.approx(10.0)
    assert rejection_at(y, scores, 0.75) == pytest.approx(20 / 3)


def test_qcd_rejection_uses_the_two_class_score() -> None:
    metric = next(
        m for m in HEP_METRICS if isinstance(m, Metric) and m.name == "hep.qcd_rejection_50_Wqq"
    )
    y = np.array([0, 0, 2, 2, 1])
    probs = np.array(
        [
            [0.8, 0.1, 0.1, 0, 0],
            [0.1, 0.1, 0.8, 0, 0],
            [0.1, 0, 0.9, 0, 0],
            [0.5, 0, 0.5, 0, 0],
            [0, 1, 0, 0, 0],
        ]
    )
    value = metric(y, Predictions(values=np.argmax(probs, 1), probabilities=probs))
    assert value == pytest.approx(2.0)  # at 50 % of W jets no QCD jet passes: capped at n_QCD


def test_qcd_rejection_refuses_another_class_list() -> None:
    # Three classes: index 2 would be the third class, not Wqq, so the name would lie.
    metric = next(
        m for m in HEP_METRICS if isinstance(m, Metric) and m.name == "hep.qcd_rejection_50_Wqq"
    )
    probs = np.full((4, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"Wqq needs probabilities for the 5 classes"):
        metric(np.array([0, 1, 2, 2]), Predictions(values=np.zeros(4, int), probabilities=probs))


def test_generated_classes_keep_the_jetclass_order() -> None:
    assert tuple(PROCESSES) == JETCLASS_ORDER
    source = PythiaJetSource()
    source.validate_params({"classes": ["QCD", "Wqq", "Hbb"]})
    for classes in (["Tbqq", "QCD"], ["QCD", "QCD", "Tbqq"]):
        with pytest.raises(DataError, match="once each in the order"):
            source.validate_params({"classes": classes})


def test_chunk_seeds_are_disjoint() -> None:
    seeds = {
        chunk_seed(base, label, split, i)
        for base in (1, 2)
        for label in PROCESSES
        for split in SPLITS
        for i in range(50)
    }
    assert len(seeds) == 2 * len(PROCESSES) * len(SPLITS) * 50
    assert max(seeds) < 900_000_000


def test_generator_seed_split() -> None:
    meta = DatasetMetadata(name="t", version="1", provenance="test", licence="none")
    part = np.array(["train", "valid", "test", "train", "test"])
    ds = Dataset(inputs=np.zeros((5, 1)), targets=np.zeros(5), metadata=meta, partition=part)
    (fold,) = generator_seeds(ds, folds=1, repeats=1, seed=0)
    np.testing.assert_array_equal(fold.train, [0, 3])
    assert fold.valid is not None  # the generated validation jets, used as given
    np.testing.assert_array_equal(fold.valid, [1])
    np.testing.assert_array_equal(fold.test, [2, 4])
    no_valid = Dataset(
        inputs=np.zeros((3, 1)), targets=np.zeros(3), metadata=meta, partition=part[[0, 2, 3]]
    )
    (fold,) = generator_seeds(no_valid, folds=1, repeats=1, seed=0)
    assert fold.valid is None  # the core carves validation from the training rows
    bad = Dataset(
        inputs=np.zeros((2, 1)),
        targets=np.zeros(2),
        metadata=meta,
        partition=np.array(["train", "x"]),
    )
    with pytest.raises(SplitError, match=r"hep\.generator_seeds"):
        generator_seeds(bad, folds=1, repeats=1, seed=0)


def test_chunks_are_kept_apart_per_pythia_and_fastjet_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    spec = ChunkSpec("QCD", 1, 250, 550.0, 650.0, 2.0, 500.0, 700.0, 128)
    folder = chunk_path(spec).parent
    assert folder.parent == tmp_path / "hep" / "chunks" / f"v{CHUNK_FORMAT}"
    assert folder.name == (
        f"pythia8mc-{importlib.metadata.version('pythia8mc')}_fastjet-{fastjet.__version__}"
    )
    monkeypatch.setattr(chunks, "physics_versions", lambda: {"pythia8mc": "9.0", "fastjet": "4"})
    assert chunk_path(spec).parent.name == "pythia8mc-9.0_fastjet-4"


def _substructure_set(n: int, seed: int, qcd_mass_max: float) -> Dataset:
    """Jets as substructure rows: 60 % of top jets peak at 173 GeV, the rest and QCD spread."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = np.zeros((n, len(models.SUBSTRUCTURE_FEATURES)))
    peak, tail = rng.normal(173.0, 6.0, n), rng.uniform(40.0, 300.0, n)
    top_mass = np.where(rng.random(n) < 0.6, peak, tail)
    x[:, models.SDMASS] = np.where(y == 1, top_mass, rng.uniform(0.0, qcd_mass_max, n))
    x[:, models.TAU32] = np.clip(rng.normal(0.75 - 0.2 * y, 0.15), 0.0, 1.0)
    meta = DatasetMetadata(name="substructure", version="1", provenance="test", licence="none")
    return Dataset(inputs=x, targets=y, metadata=meta)


def test_cut_tunes_its_mass_window_on_the_validation_jets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(models, "jet_substructure", lambda dataset: dataset.inputs)
    # Training QCD stays below 60 GeV (a wide window costs nothing); validation QCD
    # reaches 120 GeV, so there the best window is narrower than the training jets' best.
    train = _substructure_set(4000, 0, qcd_mass_max=60.0)
    valid = _substructure_set(4000, 1, qcd_mass_max=120.0)

    def valid_auc(cut: models.MassTau32Cut) -> float:
        return float(roc_auc_score(valid.targets, cut.predict(valid).probabilities[:, 1]))

    aucs = {}
    for quantile in models.WINDOW_QUANTILES:
        fixed = models.MassTau32Cut(window_quantile=quantile)
        fixed.fit(train, valid=valid)
        assert fixed.quantile_ == quantile
        aucs[quantile] = valid_auc(fixed)
    tuned = models.MassTau32Cut()
    tuned.fit(train, valid=valid)
    assert tuned.quantile_ == max(aucs, key=aucs.__getitem__)
    assert valid_auc(tuned) > aucs[models.DEFAULT_WINDOW_QUANTILE]
    low, high = tuned.window_
    assert tuned.fitted_choices() == {
        "window_quantile": tuned.quantile_,
        "window_chosen_on": "validation",
        "window_low_gev": round(low, 2),
        "window_high_gev": round(high, 2),
    }
    on_train = models.MassTau32Cut()
    on_train.fit(train)  # no validation jets: tuned on the training jets
    assert on_train.quantile_ > tuned.quantile_
    assert on_train.fitted_choices()["window_chosen_on"] == "training"
    one_class = valid.subset(np.flatnonzero(valid.targets == 1))
    for too_few in (one_class, valid.subset(np.arange(10))):  # falls back to the training jets
        fallback = models.MassTau32Cut()
        fallback.fit(train, valid=too_few)
        assert fallback.quantile_ == on_train.quantile_
        assert fallback.fitted_choices()["window_chosen_on"] == "training"
    tiny = train.subset(np.arange(10))  # nothing to tune on: the default window
    default = models.MassTau32Cut()
    default.fit(tiny, valid=tiny)
    assert default.quantile_ == models.DEFAULT_WINDOW_QUANTILE
    assert default.fitted_choices()["window_chosen_on"] == "default"
    fixed = models.MassTau32Cut(window_quantile=0.8)
    fixed.fit(train, valid=valid)
    assert fixed.fitted_choices()["window_chosen_on"] == "fixed"
    three_classes = Dataset(
        inputs=train.inputs, targets=np.arange(len(train)) % 3, metadata=train.metadata
    )
    per_class = models.MassTau32Cut()
    per_class.fit(three_classes)
    assert per_class.fitted_choices() == {}  # a mass likelihood per class: nothing tuned
    with pytest.raises(ValueError, match="window_quantile"):
        models.MassTau32Cut(window_quantile=1.5)


_CLUSTER_IN_A_FRESH_PROCESS = """
import numpy as np
from assay_hep.generator import ChunkSpec, generate_chunk
from assay_hep.substructure import substructure_table

rng = np.random.default_rng(0)
p4 = np.abs(rng.normal(10.0, 3.0, size=(6, 4)))
p4[:, 3] = np.linalg.norm(p4[:, :3], axis=1) + 1.0
substructure_table([p4])
generate_chunk(ChunkSpec("QCD", 1, 2, 550.0, 650.0, 2.0, 500.0, 700.0, 128))
print("clustered")
"""


def test_fastjet_prints_no_banner() -> None:
    """FastJet prints 13 lines at a process's first clustering, unless silenced."""
    result = subprocess.run(
        [sys.executable, "-c", _CLUSTER_IN_A_FRESH_PROCESS],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "clustered\n"
    assert "FastJet" not in result.stderr


def test_a_capped_rejection_is_a_lower_bound() -> None:
    """No background jet passes: 1/eps_B is capped at the number of background jets, which
    the tables, boards and site show as `≥ 10`."""
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.75, 0.5, 0.4, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2])
    capped = rejection_at(y, scores, 0.5)
    assert isinstance(capped, Bound)
    assert capped.side == "lower"
    assert capped == pytest.approx(10.0)
    measured = rejection_at(y, scores, 0.75)  # one background jet passes: a measurement
    assert not isinstance(measured, Bound)
    metric = next(m for m in HEP_METRICS if isinstance(m, Metric))  # hep.qcd_rejection_50_Tbqq
    probs = np.zeros((6, 5))
    probs[:, 0] = [0.9, 0.8, 0.7, 0.1, 0.2, 0.3]  # QCD scores
    probs[:, 1] = 1 - probs[:, 0]
    value = metric(
        np.array([0, 0, 0, 1, 1, 1]), Predictions(values=np.zeros(6), probabilities=probs)
    )
    assert isinstance(value, Bound)
    assert bound_info({metric.name: value}) == {f"bound.{metric.name}": "lower"}
