"""A breeding population from first principles.

Founders come from msprime under a history that leaves breeding-population
linkage disequilibrium: a large ancestral population narrowing to an
effective size near 100 (the first steps of AlphaSimR's generic history:
Ne 100 now, 500 from generation 100, 1,500 from 1,000, 6,000 from 10,000
back; AlphaSimR goes on to 12,000 and 100,000, which here only costs time).
A plain coalescent sample is a set of unrelated individuals (GBLUP r 0.23
measured with Ne 1,000), so generations of crosses follow: every cross makes
a full-sib family by meiosis with crossovers on each chromosome's genetic
map (uniform, Haldane: crossovers are a Poisson process along the map), so
families, half-sibs and relationships exist.

The founders' sites give a SNP chip (a MAF filter, then evenly thinned per
chromosome) and QTL (other segregating sites) with normal additive effects,
scaled so the founders' genetic variance is 1. Phenotypes are the true
breeding value plus normal noise of variance (1 - h2) / h2 times the
genetic variance of the simulated individuals, so the realised h2 is h2 up
to sampling error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

HISTORY = ((100, 500.0), (1000, 1500.0), (10000, 6000.0))
"""(generations ago, diploid size from then back): AlphaSimR's generic steps, capped."""


@dataclass(frozen=True)
class PopulationParams:
    """Everything that determines a simulated population (with the seed)."""

    n_founders: int = 200
    n_chromosomes: int = 10
    chromosome_bp: float = 1e8
    recombination_rate: float = 1e-8
    """Per bp per generation; the genetic length of a chromosome is bp x rate Morgans."""
    mutation_rate: float = 1e-8
    ne: float = 100.0
    history: tuple[tuple[int, float], ...] = HISTORY
    snps_per_chromosome: int = 300
    qtl_per_chromosome: int = 20
    min_maf: float = 0.05
    h2: float = 0.5
    generations: int = 4
    crosses: int = 50
    family_size: int = 10
    keep_generations: int = 4
    """The last so many generations form the dataset (founders are generation 0)."""
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["history"] = [list(step) for step in self.history]
        return out


@dataclass
class Population:
    """Haplotypes at chip and QTL loci, with pedigree and trait values.

    `haplotypes` is (individuals, 2, loci) int8 of 0/1 alleles; loci are the
    chip SNPs then the QTL, ordered by chromosome and position within each.
    """

    haplotypes: npt.NDArray[np.int8]
    chromosome: npt.NDArray[np.int64]
    morgans: npt.NDArray[np.float64]
    is_qtl: npt.NDArray[np.bool_]
    effects: npt.NDArray[np.float64]
    generation: npt.NDArray[np.int64]
    family: npt.NDArray[np.int64]
    sire: npt.NDArray[np.int64]
    dam: npt.NDArray[np.int64]
    bp: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return int(self.haplotypes.shape[0])

    def dosages(self, loci: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.int8]:
        summed: npt.NDArray[np.int8] = self.haplotypes.sum(axis=1, dtype=np.int8)
        return summed if loci is None else summed[:, loci]

    def breeding_values(self) -> npt.NDArray[np.float64]:
        qtl = self.dosages(self.is_qtl).astype(np.float64)
        return qtl @ self.effects


def simulate_founders(
    params: PopulationParams,
) -> tuple[list[npt.NDArray[np.int8]], list[npt.NDArray[np.float64]]]:
    """Per chromosome: founder haplotypes (2 x n_founders, sites) and site positions (bp)."""
    import msprime

    demography = msprime.Demography()
    demography.add_population(name="breed", initial_size=params.ne)
    for time, size in params.history:
        demography.add_population_parameters_change(
            time=time, initial_size=size, population="breed"
        )
    haplotypes, positions = [], []
    seeds = np.random.default_rng(params.seed).integers(
        1, 2**31 - 1, size=(params.n_chromosomes, 2)
    )
    for chrom in range(params.n_chromosomes):
        ancestry = msprime.sim_ancestry(
            samples=params.n_founders,
            demography=demography,
            sequence_length=params.chromosome_bp,
            recombination_rate=params.recombination_rate,
            random_seed=int(seeds[chrom, 0]),
        )
        # Infinite sites with a binary model: every site is biallelic.
        mutated = msprime.sim_mutations(
            ancestry,
            rate=params.mutation_rate,
            random_seed=int(seeds[chrom, 1]),
            model=msprime.BinaryMutationModel(),
            discrete_genome=False,
        )
        haplotypes.append(mutated.genotype_matrix().T.astype(np.int8))
        positions.append(mutated.tables.sites.position.copy())
    return haplotypes, positions


def _thin(candidates: npt.NDArray[np.int64], count: int) -> npt.NDArray[np.int64]:
    """`count` of the candidate sites, evenly spread along the chromosome (as a chip is)."""
    if len(candidates) <= count:
        return candidates
    picks = np.round(np.linspace(0, len(candidates) - 1, count)).astype(np.int64)
    return candidates[np.unique(picks)]


def founder_population(params: PopulationParams) -> Population:
    """Chip and QTL chosen on the founders; QTL effects scaled to founder variance 1."""
    rng = np.random.default_rng([params.seed, 1])
    haplotypes, positions = simulate_founders(params)
    blocks, chroms, bps, qtl_flags = [], [], [], []
    for chrom, (hap, pos) in enumerate(zip(haplotypes, positions, strict=True)):
        freq = hap.mean(axis=0)
        maf = np.minimum(freq, 1 - freq)
        segregating = np.flatnonzero(maf > 0)
        qtl = np.sort(
            rng.choice(
                segregating, size=min(params.qtl_per_chromosome, len(segregating)), replace=False
            )
        )
        common = np.setdiff1d(np.flatnonzero(maf >= params.min_maf), qtl)
        chip = _thin(common, params.snps_per_chromosome)
        for kind, sites in ((False, chip), (True, qtl)):
            blocks.append(hap[:, sites])
            chroms.append(np.full(len(sites), chrom, dtype=np.int64))
            bps.append(pos[sites])
            qtl_flags.append(np.full(len(sites), kind))
    all_hap = np.concatenate(blocks, axis=1)
    chromosome = np.concatenate(chroms)
    bp = np.concatenate(bps)
    is_qtl = np.concatenate(qtl_flags)
    # Chip first, then QTL; within each by chromosome and position.
    order = np.lexsort((bp, chromosome, is_qtl))
    all_hap, chromosome, bp, is_qtl = all_hap[:, order], chromosome[order], bp[order], is_qtl[order]
    n = params.n_founders
    founders = all_hap.reshape(n, 2, -1)  # msprime lists an individual's two nodes together
    effects = rng.normal(size=int(is_qtl.sum()))
    tbv = founders.sum(axis=1)[:, is_qtl].astype(np.float64) @ effects
    effects /= tbv.std() if tbv.std() > 0 else 1.0
    minus_one = np.full(n, -1, dtype=np.int64)
    return Population(
        haplotypes=founders,
        chromosome=chromosome,
        morgans=bp * params.recombination_rate,
        is_qtl=is_qtl,
        effects=effects,
        generation=np.zeros(n, dtype=np.int64),
        family=minus_one.copy(),
        sire=minus_one.copy(),
        dam=minus_one,
        bp=bp,
    )


def gametes(
    parent_haplotypes: npt.NDArray[np.int8],
    chromosome: npt.NDArray[np.int64],
    morgans: npt.NDArray[np.float64],
    genetic_length: float,
    rng: np.random.Generator,
) -> npt.NDArray[np.int8]:
    """One recombinant gamete per parent: (parents, 2, loci) -> (parents, loci).

    Per chromosome the gamete starts on a random parental haplotype and
    switches at each crossover; crossovers are Poisson(length) at uniform map
    positions (no interference)."""
    n_parents, _, n_loci = parent_haplotypes.shape
    strand = np.empty((n_parents, n_loci), dtype=np.int64)
    for chrom in np.unique(chromosome):
        loci = np.flatnonzero(chromosome == chrom)
        start = np.asarray(rng.integers(0, 2, size=n_parents), dtype=np.int64)
        counts = np.asarray(rng.poisson(genetic_length, size=n_parents), dtype=np.int64)
        for p in range(n_parents):
            crossovers = np.sort(rng.uniform(0, genetic_length, size=counts[p]))
            switches = np.searchsorted(crossovers, morgans[loci], side="right")
            strand[p, loci] = (start[p] + switches) % 2
    return np.take_along_axis(parent_haplotypes, strand[:, None, :], axis=1)[:, 0, :]


def cross(
    population: Population,
    sires: npt.NDArray[np.int64],
    dams: npt.NDArray[np.int64],
    family_size: int,
    genetic_length: float,
    rng: np.random.Generator,
    *,
    generation: int,
    first_family: int,
) -> Population:
    """The progeny of crosses sires[k] x dams[k], `family_size` full sibs each."""
    sire_idx = np.repeat(sires, family_size)
    dam_idx = np.repeat(dams, family_size)
    args = (population.chromosome, population.morgans, genetic_length, rng)
    from_sire = gametes(population.haplotypes[sire_idx], *args)
    from_dam = gametes(population.haplotypes[dam_idx], *args)
    n = len(sire_idx)
    return Population(
        haplotypes=np.stack([from_sire, from_dam], axis=1),
        chromosome=population.chromosome,
        morgans=population.morgans,
        is_qtl=population.is_qtl,
        effects=population.effects,
        generation=np.full(n, generation, dtype=np.int64),
        family=np.repeat(np.arange(first_family, first_family + len(sires)), family_size),
        sire=sire_idx,
        dam=dam_idx,
        bp=population.bp,
    )


def random_pairs(
    n_parents: int, n_crosses: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Random mating without selfing: each cross draws two distinct parents."""
    sires = rng.integers(0, n_parents, size=n_crosses)
    dams = (sires + rng.integers(1, n_parents, size=n_crosses)) % n_parents
    return sires.astype(np.int64), dams.astype(np.int64)


def concat(parts: list[Population], offsets: list[int]) -> Population:
    """Stack generations; parent indices shift to rows of the stacked population."""
    first = parts[0]
    return Population(
        haplotypes=np.concatenate([p.haplotypes for p in parts]),
        chromosome=first.chromosome,
        morgans=first.morgans,
        is_qtl=first.is_qtl,
        effects=first.effects,
        generation=np.concatenate([p.generation for p in parts]),
        family=np.concatenate([p.family for p in parts]),
        sire=np.concatenate(
            [np.where(p.sire >= 0, p.sire + o, -1) for p, o in zip(parts, offsets, strict=True)]
        ),
        dam=np.concatenate(
            [np.where(p.dam >= 0, p.dam + o, -1) for p, o in zip(parts, offsets, strict=True)]
        ),
        bp=first.bp,
    )


def breed(params: PopulationParams, founders: Population | None = None) -> Population:
    """Founders, then `generations` of random crosses (each from the previous generation)."""
    founders = founders if founders is not None else founder_population(params)
    rng = np.random.default_rng([params.seed, 2])
    genetic_length = params.chromosome_bp * params.recombination_rate
    parts, offsets = [founders], [0]
    parents, parent_offset = founders, 0
    for generation in range(1, params.generations + 1):
        sires, dams = random_pairs(len(parents), params.crosses, rng)
        progeny = cross(
            parents,
            sires,
            dams,
            params.family_size,
            genetic_length,
            rng,
            generation=generation,
            first_family=(generation - 1) * params.crosses,
        )
        parts.append(progeny)
        offsets.append(parent_offset)
        parent_offset += len(parents)
        parents = progeny
    return concat(parts, offsets)


def phenotypes(
    tbv: npt.NDArray[np.float64], h2: float, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], float]:
    """Phenotype = TBV + noise with variance var(TBV) (1 - h2) / h2; returns the noise variance."""
    if not 0.0 < h2 <= 1.0:
        raise ValueError(f"h2 must be in (0, 1], got {h2}")
    noise_var = float(np.var(tbv) * (1 - h2) / h2)
    return tbv + rng.normal(scale=np.sqrt(noise_var), size=len(tbv)), noise_var
