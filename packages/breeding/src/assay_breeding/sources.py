"""Data sources: a simulated breeding population, and a user's VCF or PLINK files.

Every source stores the same files: `genotypes.npy` (individuals x SNPs,
int8 allele dosages 0/1/2), `phenotype.npy`, `family.npy` (the group a split
keeps whole), optional `tbv.npy` (true breeding values, simulated data only)
and `generation.npy`, `fold.npy` (a user's fold column), and `meta.json`.

The dataset's targets are the phenotypes: they are what a breeder has and
what a model trains on. True breeding values travel in `extras["tbv"]`; the
breeding protocol (`assay_breeding.protocol`) removes them before a model
sees any rows and scores predictions against them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from assay.kit import (
    Dataset,
    DatasetMetadata,
    ExportColumn,
    ExportView,
    Source,
    SourceParams,
    default_columns,
    read_array,
    read_json,
    write_array,
    write_json,
)
from pydantic import Field, model_validator

from assay_breeding.simulate import PopulationParams, breed, phenotypes

SIMULATION_VERSION = "1"
"""Bump when the simulator's code changes its output for the same parameters."""


def _library_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


_DEFAULT = PopulationParams()


class SimulatedParams(SourceParams):
    """The fields of `PopulationParams` a scenario may set, with their ranges."""

    n_founders: int = Field(_DEFAULT.n_founders, ge=2)
    n_chromosomes: int = Field(_DEFAULT.n_chromosomes, ge=1)
    chromosome_bp: float = Field(_DEFAULT.chromosome_bp, gt=0)
    recombination_rate: float = Field(_DEFAULT.recombination_rate, gt=0)
    mutation_rate: float = Field(_DEFAULT.mutation_rate, gt=0)
    ne: float = Field(_DEFAULT.ne, gt=0)
    snps_per_chromosome: int = Field(_DEFAULT.snps_per_chromosome, ge=1)
    qtl_per_chromosome: int = Field(_DEFAULT.qtl_per_chromosome, ge=1)
    min_maf: float = Field(_DEFAULT.min_maf, ge=0, lt=0.5)
    h2: float = Field(_DEFAULT.h2, gt=0, le=1)
    generations: int = Field(_DEFAULT.generations, ge=1)
    crosses: int = Field(_DEFAULT.crosses, ge=1)
    family_size: int = Field(_DEFAULT.family_size, ge=1)
    keep_generations: int = Field(_DEFAULT.keep_generations, ge=1)
    seed: int = _DEFAULT.seed

    @model_validator(mode="after")
    def _kept_generations_exist(self) -> SimulatedParams:
        if self.keep_generations > self.generations:
            raise ValueError(
                f"keep_generations ({self.keep_generations}) must be in "
                f"1..generations ({self.generations})"
            )
        return self


def genotype_columns(dataset: Dataset) -> tuple[ExportColumn, ...]:
    markers = dataset.inputs.shape[1]
    return default_columns(
        dataset.inputs,
        name="genotypes",
        description=f"allele dosage (count of the alternate allele) at each of {markers} markers",
    )


class SimulatedPopulationSource(Source[SimulatedParams]):
    """`breeding.simulated`: msprime founders, then generations of crosses (see `simulate`).

    Parameters are the fields of `PopulationParams` (h2, n_founders,
    generations, crosses, family_size, snps_per_chromosome, ...); the dataset
    holds the last `keep_generations` generations.
    """

    name = "breeding.simulated"
    version = SIMULATION_VERSION

    def generator_versions(self) -> dict[str, str]:
        return {
            "msprime": _library_version("msprime"),
            "tskit": _library_version("tskit"),
            "simulation": SIMULATION_VERSION,
        }

    params_model = SimulatedParams

    def prepare(self, params: SimulatedParams, out_dir: Path) -> None:
        p = population_params(params)
        population = breed(p)
        kept = population.generation > p.generations - p.keep_generations
        tbv = population.breeding_values()[kept]
        phenotype, noise_var = phenotypes(tbv, p.h2, np.random.default_rng([p.seed, 3]))
        chip = ~population.is_qtl
        write_array(out_dir / "genotypes.npy", population.dosages(chip)[kept])
        write_array(out_dir / "phenotype.npy", phenotype)
        write_array(out_dir / "tbv.npy", tbv)
        write_array(out_dir / "family.npy", population.family[kept])
        write_array(out_dir / "generation.npy", population.generation[kept])
        write_array(out_dir / "snp_chromosome.npy", population.chromosome[chip])
        write_array(out_dir / "snp_bp.npy", population.bp[chip])
        write_json(
            out_dir / "meta.json",
            {
                "simulation": p.to_json(),
                "versions": self.generator_versions(),
                "genetic_variance": float(np.var(tbv)),
                "noise_variance": noise_var,
                "n_qtl": int(population.is_qtl.sum()),
                "n_snp": int(chip.sum()),
            },
        )

    def export_view(self, dataset: Dataset, params: SimulatedParams) -> ExportView:
        del params
        return ExportView(
            inputs=genotype_columns(dataset),
            target_description="the individual's phenotype (breeding value plus environment)",
            extras=(
                ExportColumn(
                    "tbv",
                    dataset.extras["tbv"],
                    "the true breeding value (simulated; the protocol scores against it, no "
                    "model sees it)",
                ),
                ExportColumn("generation", dataset.extras["generation"], "the generation"),
            ),
        )

    def load(self, params: SimulatedParams, files_dir: Path) -> Dataset:
        meta = read_json(files_dir / "meta.json")
        p = population_params(params)
        versions = meta["versions"]
        provenance = (
            f"simulated: msprime {versions['msprime']} / tskit {versions['tskit']} founders "
            f"({p.n_founders} diploids, {p.n_chromosomes} chromosomes of {p.chromosome_bp:.0e} bp, "
            f"Ne {p.ne:g} after history {list(p.history)}), {p.generations} generations of "
            f"{p.crosses} random crosses x {p.family_size} full sibs; {meta['n_snp']} chip SNPs "
            f"(MAF >= {p.min_maf}), {meta['n_qtl']} QTL, h2 {p.h2}, seed {p.seed}"
        )
        generation = read_array(files_dir / "generation.npy")
        return Dataset(
            inputs=read_array(files_dir / "genotypes.npy"),
            targets=read_array(files_dir / "phenotype.npy"),
            groups=read_array(files_dir / "family.npy"),
            extras={"tbv": read_array(files_dir / "tbv.npy"), "generation": generation},
            metadata=DatasetMetadata(
                name=f"breeding-simulated-h2-{p.h2:g}",
                version=SIMULATION_VERSION,
                provenance=provenance,
                licence="generated from first principles (no third-party data)",
                notes=(
                    f"{len(generation)} individuals in generations "
                    f"{int(generation.min())}-{int(generation.max())}; realised h2 "
                    f"{meta['genetic_variance'] / (meta['genetic_variance'] + meta['noise_variance']):.3f}",
                ),
            ),
        )


def population_params(params: SimulatedParams) -> PopulationParams:
    """The simulation's settings: every field the scenario may set, the rest (`history`)
    the simulation's own."""
    return PopulationParams(**params.model_dump())
