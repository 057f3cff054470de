"""Selection cycles on the core's closed loop: a policy picks parents, the environment breeds.

Each cycle the environment offers the current candidates (200 by default),
phenotyped: their features are [own phenotype, chip dosages...]. The policy
picks `q` of them as parents; the environment crosses the chosen parents at
random (no selfing) into families of full sibs, genotypes and phenotypes the
progeny, and offers them as the next cycle's candidates. The measured values
are the chosen parents' phenotypes; the truth is their true breeding values.

The core's campaign measures a seeded random choice of `n0` candidates in
round 0: that first cycle is random selection for every policy, so gain is
scored over the policy's cycles only (the generation after round 0 to the
last progeny). Scores, from the true breeding values the policy never sees:

- `gain_per_cycle`: the rise in mean TBV per policy cycle, in units of the
  base generation's genetic SD;
- `genetic_variance_kept`: the last generation's genetic variance over the
  base generation's;
- `inbreeding`: 1 - H_t / H_0, the loss of expected heterozygosity
  (2 p (1 - p), averaged over chip SNPs) since the base generation.

Policies: `breeding.phenotypic` (mass selection: the best own phenotypes),
`breeding.genomic` (GBLUP fitted on every candidate phenotyped so far, the
current ones included; the best GEBV), and the core's `random`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from assay.kit import (
    DESIGN_SEEDS,
    CampaignPlan,
    Candidates,
    ClosedLoopProtocol,
    Dataset,
    DatasetMetadata,
    Environment,
    History,
    Measurement,
    Params,
    SpecError,
    UnitContext,
    UnitOutput,
    campaign_scores,
    run_campaign,
)
from pydantic import Field, model_validator

from assay_breeding.simulate import (
    Population,
    PopulationParams,
    cross,
    founder_population,
    random_pairs,
)


@lru_cache(maxsize=4)
def _founders(params: PopulationParams) -> Population:
    """The founders depend on the scenario, not on the campaign seed: simulated once per process."""
    return founder_population(params)


class SelectionParams(Params):
    """A selection programme's founders and cycle size (`[environment] params`)."""

    n_founders: int = Field(default=100, ge=2)
    n_chromosomes: int = Field(default=10, ge=1)
    chromosome_bp: float = Field(default=1e8, gt=0)
    snps_per_chromosome: int = Field(default=100, ge=1)
    qtl_per_chromosome: int = Field(default=20, ge=1)
    h2: float = Field(default=0.3, gt=0, le=1)
    candidates: int = Field(default=200, ge=1)
    """Candidates per cycle: whole families of `family_size` full sibs."""
    family_size: int = Field(default=10, ge=1)
    founder_seed: int = 0

    @model_validator(mode="after")
    def _whole_families(self) -> SelectionParams:
        if self.candidates % self.family_size:
            raise ValueError(
                f"candidates ({self.candidates}) must be a multiple of family_size "
                f"({self.family_size})"
            )
        return self


class SelectionEnvironment(Environment):
    """A breeding programme answering a selection policy, cycle by cycle."""

    params_model = SelectionParams

    def __init__(self, *, dataset: Dataset | None = None, **params: Any) -> None:
        del dataset
        p = SelectionParams.model_validate(params)
        self.params = PopulationParams(
            n_founders=p.n_founders,
            n_chromosomes=p.n_chromosomes,
            chromosome_bp=p.chromosome_bp,
            snps_per_chromosome=p.snps_per_chromosome,
            qtl_per_chromosome=p.qtl_per_chromosome,
            h2=p.h2,
            seed=p.founder_seed,
        )
        self.n_candidates, self.family_size = p.candidates, p.family_size
        self.genetic_length = p.chromosome_bp * self.params.recombination_rate

    def reset(self, seed: int) -> Candidates:
        self.rng = np.random.default_rng([seed, 7])
        founders = _founders(self.params)
        self.chip = ~founders.is_qtl
        self.cycle = 0
        base = self._offspring(founders, np.arange(len(founders)))
        tbv = base.breeding_values()
        self.var_g0 = float(np.var(tbv))
        self.noise_sd = float(np.sqrt(self.var_g0 * (1 - self.params.h2) / self.params.h2))
        self.h0 = self._heterozygosity(base)
        self.means: list[float] = [float(tbv.mean())]
        self.variances: list[float] = [self.var_g0]
        self.inbreeding: list[float] = [0.0]
        return self._offer(base)

    def _offspring(self, parents: Population, chosen: npt.NDArray[np.int64]) -> Population:
        sires, dams = random_pairs(len(chosen), self.n_candidates // self.family_size, self.rng)
        pool = replace(
            parents,
            haplotypes=parents.haplotypes[chosen],
            generation=parents.generation[chosen],
            family=parents.family[chosen],
            sire=parents.sire[chosen],
            dam=parents.dam[chosen],
        )
        return cross(
            pool,
            sires,
            dams,
            self.family_size,
            self.genetic_length,
            self.rng,
            generation=self.cycle + 1,
            first_family=0,
        )

    def _heterozygosity(self, population: Population) -> float:
        p = population.dosages(self.chip).mean(axis=0) / 2
        return float(np.mean(2 * p * (1 - p)))

    def _offer(self, population: Population) -> Candidates:
        self.current = population
        self.tbv = population.breeding_values()
        self.phenotype = self.tbv + self.rng.normal(scale=self.noise_sd, size=len(self.tbv))
        features = np.column_stack([self.phenotype, population.dosages(self.chip)])
        ids = [f"c{self.cycle}-{i}" for i in range(len(population))]
        return Candidates.pool(ids, features)

    def measure(self, batch: Candidates) -> Measurement:
        index = {
            name: i for i, name in enumerate(f"c{self.cycle}-{k}" for k in range(len(self.current)))
        }
        chosen = np.array([index[str(name)] for name in batch.ids], dtype=np.int64)
        values, truth = self.phenotype[chosen], self.tbv[chosen]
        progeny = self._offspring(self.current, chosen)
        self.cycle += 1
        tbv = progeny.breeding_values()
        self.means.append(float(tbv.mean()))
        self.variances.append(float(np.var(tbv)))
        self.inbreeding.append(1 - self._heterozygosity(progeny) / self.h0)
        return Measurement(values=values, truth=truth, candidates=self._offer(progeny))

    def scores(self) -> dict[str, float]:
        """Scores over the policy's cycles (after the random round 0), from the true values."""
        sd0 = np.sqrt(self.var_g0)
        policy_cycles = max(1, len(self.means) - 2)
        return {
            "gain_per_cycle": float((self.means[-1] - self.means[1]) / sd0 / policy_cycles),
            "genetic_variance_kept": float(self.variances[-1] / self.var_g0),
            "inbreeding": float(self.inbreeding[-1]),
        }


def _top(candidates: Candidates, scores: npt.NDArray[np.float64], q: int) -> Candidates:
    order = np.lexsort((candidates.ids, -scores))  # ties broken by id: deterministic
    return candidates.take(np.sort(order[:q]))


class PhenotypicSelection:
    """Mass selection: the candidates with the best own phenotype."""

    def suggest(self, history: History, candidates: Candidates, q: int, *, seed: int) -> Candidates:
        del history, seed
        return _top(candidates, candidates.features[:, 0], q)


class GenomicSelection:
    """GBLUP on every candidate phenotyped so far (this cycle's included); the best GEBV."""

    def __init__(self, *, h2: Annotated[float, Field(gt=0, lt=1)] | None = None) -> None:
        self.h2 = h2  # as GBLUP takes it: fixed, or None for REML
        self.seen: dict[str, npt.NDArray[np.float64]] = {}

    def suggest(self, history: History, candidates: Candidates, q: int, *, seed: int) -> Candidates:
        del history
        for name, row in zip(candidates.ids.tolist(), candidates.features, strict=True):
            self.seen[name] = row
        train = np.array(list(self.seen.values()))
        meta = DatasetMetadata(
            name="selection", version="1", provenance="campaign", licence="generated"
        )
        from assay_breeding.models import GBLUP  # scipy, only when genomic selection runs

        model = GBLUP(h2=self.h2)
        model.fit(Dataset(inputs=train[:, 1:], targets=train[:, 0], metadata=meta), seed=seed)
        blind = Dataset(inputs=candidates.features[:, 1:], targets=None, metadata=meta)
        return _top(candidates, np.asarray(model.predict(blind).values, dtype=np.float64), q)


class SelectionProtocol(ClosedLoopProtocol):
    """The core's closed loop, scored also on the breeding outcome the environment tracks."""

    name = "breeding.selection"

    def run(self, context: UnitContext) -> UnitOutput:
        plan: CampaignPlan = context.plan.payload
        environment = plan.environment()
        if not isinstance(environment, SelectionEnvironment):
            raise SpecError(
                f"scenario {context.spec.key}: protocol 'breeding.selection' needs a breeding environment"
            )
        trace, policy_s, measure_s = run_campaign(
            environment, context.model, plan.params, context.seed
        )
        scores = {**campaign_scores(trace, plan.params, None, None), **environment.scores()}
        wanted = {metric.name for metric in context.metrics}
        missing = wanted - set(scores)
        if missing:
            raise SpecError(f"scenario {context.spec.key}: cannot score {sorted(missing)}")
        sd0 = float(np.sqrt(environment.var_g0))
        return UnitOutput(
            metrics={name: scores[name] for name in sorted(wanted)},
            fit_seconds=policy_s,
            predict_seconds=measure_s,
            predictions=trace.columns(None),
            steps={
                "mean_tbv_in_base_sd": [
                    (cycle, (mean - environment.means[0]) / sd0)
                    for cycle, mean in enumerate(environment.means)
                ],
                "inbreeding": list(enumerate(environment.inbreeding)),
            },
            info={
                "design": DESIGN_SEEDS,  # one campaign per seed: boards compare over seeds
                "cycles": str(environment.cycle),
                "policy_cycles": str(max(0, environment.cycle - 1)),
                "candidates": str(environment.n_candidates),
                "selected": str(plan.params.q),
            },
        )
