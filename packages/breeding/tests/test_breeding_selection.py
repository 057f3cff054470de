"""Selection cycles: the environment breeds what the policy picks; scores come from true values."""

from __future__ import annotations

import numpy as np
from assay.loop.campaign import run_campaign
from assay.loop.closed_loop import CampaignParams
from assay.loop.policies import RandomPolicy
from assay_breeding.selection import GenomicSelection, PhenotypicSelection, SelectionEnvironment

SMALL = {
    "n_founders": 40,
    "chromosome_bp": 3e7,
    "snps_per_chromosome": 50,
    "qtl_per_chromosome": 10,
    "candidates": 80,
    "family_size": 8,
    "h2": 0.5,
}
CAMPAIGN = CampaignParams(n0=8, q=8, budget=40)  # round 0 random, then 4 policy cycles


def campaign(policy: object, seed: int) -> dict[str, float]:
    environment = SelectionEnvironment(**SMALL)
    trace, _, _ = run_campaign(environment, policy, CAMPAIGN, seed)  # type: ignore[arg-type]
    assert len(trace.ids) == CAMPAIGN.budget
    assert environment.cycle == 5
    return environment.scores()


def test_campaigns_are_seeded() -> None:
    assert campaign(PhenotypicSelection(), 3) == campaign(PhenotypicSelection(), 3)


def test_selection_on_phenotype_gains_more_than_random() -> None:
    seeds = range(3)
    mass = [campaign(PhenotypicSelection(), s) for s in seeds]
    random = [campaign(RandomPolicy(), s) for s in seeds]
    assert (
        np.mean([m["gain_per_cycle"] for m in mass])
        > np.mean([r["gain_per_cycle"] for r in random]) + 0.1
    )
    assert np.mean([m["gain_per_cycle"] for m in mass]) > 0.1


def test_genomic_selection_runs_and_reports_every_score() -> None:
    scores = campaign(GenomicSelection(), 0)
    assert set(scores) == {"gain_per_cycle", "genetic_variance_kept", "inbreeding"}
    assert 0.0 < scores["inbreeding"] < 1.0  # 8 parents of 80 per cycle lose heterozygosity
    assert scores["genetic_variance_kept"] > 0.0
