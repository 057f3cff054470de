"""Population-genetic checks of the simulator: SFS, LD decay, Hardy-Weinberg, h2, GBLUP accuracy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from assay.data.dataset import Dataset, DatasetMetadata
from assay_breeding.metrics import accuracy
from assay_breeding.models import GBLUP
from assay_breeding.simulate import (
    Population,
    PopulationParams,
    breed,
    founder_population,
    phenotypes,
    simulate_founders,
)
from sklearn.model_selection import GroupKFold

# Small enough for seconds, large enough for the statistics below.
SMALL = PopulationParams(
    n_founders=100,
    chromosome_bp=5e7,
    snps_per_chromosome=200,
    qtl_per_chromosome=20,
    generations=3,
    crosses=40,
    family_size=10,
    seed=3,
)


@pytest.fixture(scope="module")
def population() -> Population:
    return breed(SMALL)


def test_founder_sfs_is_close_to_neutral_under_constant_size() -> None:
    """Under a constant population size the expected unfolded SFS is proportional to 1/i.

    60 short chromosomes give 60 nearly independent genealogies; the sampling
    spread of the SFS across seeds is a total variation of about 0.03-0.05."""
    params = PopulationParams(
        n_founders=10, history=(), chromosome_bp=2e6, n_chromosomes=60, mutation_rate=5e-7, seed=1
    )
    haplotypes, _ = simulate_founders(params)
    n = 2 * params.n_founders
    counts = np.concatenate([h.sum(axis=0) for h in haplotypes])
    sfs = np.bincount(counts, minlength=n + 1)[1:n].astype(float)
    expected = 1.0 / np.arange(1, n)
    observed, expected = sfs / sfs.sum(), expected / expected.sum()
    assert sfs.sum() > 20000
    assert 0.5 * np.abs(observed - expected).sum() < 0.08  # total variation distance
    assert abs(observed[0] / expected[0] - 1) < 0.2  # singletons


def test_ld_decays_with_distance(population: Population) -> None:
    founders = population.generation == 0
    chip = ~population.is_qtl
    dosage = population.dosages(chip)[founders].astype(float)
    morgans, chrom = population.morgans[chip], population.chromosome[chip]
    near, far = [], []
    for c in np.unique(chrom):
        cols = np.flatnonzero(chrom == c)
        r2 = np.corrcoef(dosage[:, cols].T) ** 2
        distance = np.abs(morgans[cols][:, None] - morgans[cols][None, :])
        upper = np.triu_indices(len(cols), 1)
        near.append(r2[upper][distance[upper] < 0.02])
        far.append(r2[upper][distance[upper] > 0.3])
    near_r2, far_r2 = np.nanmean(np.concatenate(near)), np.nanmean(np.concatenate(far))
    assert near_r2 > 2 * far_r2
    assert near_r2 > 0.1  # a bottleneck to Ne 100 leaves LD a chip can use


def test_hardy_weinberg_after_random_mating() -> None:
    """One child per cross, so genotypes are independent draws (families would cluster them)."""
    population = breed(replace(SMALL, n_chromosomes=3, generations=2, crosses=1000, family_size=1))
    last = population.generation == population.generation.max()
    dosage = population.dosages(~population.is_qtl)[last]
    p = dosage.mean(axis=0) / 2
    observed = np.stack([(dosage == k).mean(axis=0) for k in (0, 1, 2)])
    expected = np.stack([(1 - p) ** 2, 2 * p * (1 - p), p**2])
    # Genotype proportions averaged over loci match (1-p)^2 : 2pq : p^2.
    assert np.allclose(observed.mean(axis=1), expected.mean(axis=1), atol=0.02)
    # A chi-square test per locus rejects at 1 % about as often as chance (+ a margin).
    n = dosage.shape[0]
    informative = (p > 0.05) & (p < 0.95)
    chi2 = (n * (observed - expected) ** 2 / np.maximum(expected, 1e-12)).sum(axis=0)
    assert np.mean(chi2[informative] > 6.63) < 0.03


def test_realised_heritability_matches_within_sampling_error() -> None:
    rng = np.random.default_rng(0)
    tbv = rng.normal(size=4000)
    for h2 in (0.3, 0.5):
        phenotype, noise_var = phenotypes(tbv, h2, rng)
        realised = np.var(tbv) / np.var(phenotype)
        # var(phenotype) has relative sampling sd sqrt(2 / n); 4 sd of it.
        assert abs(realised - h2) < 4 * h2 * np.sqrt(2 / len(tbv))
        assert np.isclose(noise_var, np.var(tbv) * (1 - h2) / h2)


def test_founder_genetic_variance_is_scaled_to_one() -> None:
    founders = founder_population(replace(SMALL, n_chromosomes=3))
    assert np.isclose(np.var(founders.breeding_values()), 1.0)
    assert np.all(founders.family == -1)


def test_gblup_accuracy_lies_in_the_daetwyler_band(population: Population) -> None:
    """r = sqrt(N h2 / (N h2 + Me)) with Me between 2 Ne L (Daetwyler et al. 2008) and
    2 Ne L / ln(4 Ne L) (Goddard 2009): the band the two usual Me formulas give."""
    h2 = 0.5
    kept = population.generation > 0
    tbv = population.breeding_values()[kept]
    phenotype, _ = phenotypes(tbv, h2, np.random.default_rng(1))
    genotypes = population.dosages(~population.is_qtl)[kept]
    families = population.family[kept]
    dataset = Dataset(
        inputs=genotypes,
        targets=phenotype,
        groups=families,
        metadata=DatasetMetadata(name="small", version="1", provenance="test", licence="test"),
    )
    rs = []
    for train, test in GroupKFold(n_splits=5).split(genotypes, groups=families):
        model = GBLUP()
        model.fit(dataset.subset(train))
        rs.append(accuracy(tbv[test], model.predict(dataset.subset(test).without_targets())))
    n_train = 0.8 * len(tbv)
    ne_l = SMALL.ne * SMALL.n_chromosomes * SMALL.chromosome_bp * SMALL.recombination_rate
    low = np.sqrt(n_train * h2 / (n_train * h2 + 2 * ne_l))
    high = np.sqrt(n_train * h2 / (n_train * h2 + 2 * ne_l / np.log(4 * ne_l)))
    assert low < float(np.mean(rs)) < high, (low, np.mean(rs), high)


def test_families_are_full_sibs_with_recorded_parents(population: Population) -> None:
    progeny = np.flatnonzero(population.generation == 2)
    for family in np.unique(population.family[progeny])[:5]:
        members = progeny[population.family[progeny] == family]
        assert len(members) == SMALL.family_size
        assert len(set(population.sire[members])) == 1
        assert len(set(population.dam[members])) == 1
        parent = population.sire[members[0]]
        assert population.generation[parent] == 1
        # every allele of a child comes from its parents' haplotypes at that locus
        child = population.haplotypes[members[0], 0]
        assert np.all(
            (child == population.haplotypes[parent, 0])
            | (child == population.haplotypes[parent, 1])
        )


def test_a_constant_prediction_has_accuracy_zero_and_bias_one() -> None:
    from assay.evaluation.predictions import Predictions
    from assay_breeding.metrics import slope_bias

    truth = np.random.default_rng(0).normal(size=50)
    constant = Predictions(values=np.full(50, 0.1 + 0.2))  # a float whose np.var is not 0
    assert accuracy(truth, constant) == 0.0
    assert slope_bias(truth, constant) == 1.0
    assert np.isclose(slope_bias(truth, Predictions(values=truth * 2)), 0.5)
