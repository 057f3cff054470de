"""The closed-loop protocol: spec rules, campaigns, policies, boards and resume."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from assay.data import dataset as data
from assay.engine.executors import make_executor
from assay.engine.runner import GridEntry, plan_grid, run_grid
from assay.engine.tracking import Tracker
from assay.engine.units import execute_unit
from assay.errors import AssayError, DataError, SpecError
from assay.loop.campaign import propose, run_campaign, top_ids
from assay.loop.closed_loop import (
    Box,
    CampaignParams,
    Candidates,
    Environment,
    History,
    Measurement,
    build_policy,
)
from assay.loop.environments import (
    HARTMANN6_ARGMAX,
    HARTMANN6_MAX,
    DatasetPool,
    Hartmann6,
    hartmann6,
)
from assay.loop.policies import RandomPolicy
from assay.params import parse_params
from assay.plugin import Catalog
from assay.publish.leaderboard import build_board
from assay.spec import ModelEntry, parse_scenario
from sklearn.datasets import load_diabetes

LOOP = {
    "schema_version": 1,
    "id": "x/loop",
    "version": "1",
    "title": "t",
    "task": "closed-loop",
    "environment": {"name": "core.hartmann6"},
    "protocol": {"name": "closed_loop", "params": {"n0": 4, "q": 2, "budget": 10}},
    "metrics": [{"name": "best_at_budget", "direction": "maximize"}],
    "controls": {"negative": "random"},
}


def test_closed_loop_specs_need_an_environment_and_only_they_have_one() -> None:
    assert parse_scenario(LOOP).source is None
    no_environment = {k: v for k, v in LOOP.items() if k != "environment"}
    with pytest.raises(SpecError, match="needs an \\[environment\\]"):
        parse_scenario(no_environment)
    with pytest.raises(SpecError, match="only a closed-loop scenario"):
        parse_scenario({**LOOP, "task": "regression"})
    with pytest.raises(SpecError, match="missing key 'source'"):
        parse_scenario({**no_environment, "task": "regression"})
    with pytest.raises(SpecError, match=r"protocol\.params: missing key 'budget'"):
        parse_params("x: protocol.params", CampaignParams, {"n0": 4, "q": 2}, error=SpecError)
    with pytest.raises(SpecError, match=r"^x: n0 = 40 is larger than the budget 10$"):
        parse_params("x", CampaignParams, {"n0": 40, "q": 2, "budget": 10}, error=SpecError)


def test_hartmann6_has_its_known_maximum() -> None:
    assert hartmann6(HARTMANN6_ARGMAX)[0] == pytest.approx(HARTMANN6_MAX, abs=1e-4)
    x = np.random.default_rng(0).random((2000, 6))
    assert hartmann6(x).max() < HARTMANN6_MAX


def test_a_campaign_spends_its_budget_once_per_candidate_and_repeats_with_its_seed() -> None:
    params = CampaignParams(n0=5, q=3, budget=17)
    pool = DatasetPool(_diabetes())
    trace, _, _ = run_campaign(pool, RandomPolicy(), params, seed=3)
    assert trace.ids.size == 17
    assert len(set(trace.ids.tolist())) == 17
    assert trace.rounds.tolist() == [0] * 5 + [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3
    again, _, _ = run_campaign(DatasetPool(_diabetes()), RandomPolicy(), params, seed=3)
    assert again.ids.tolist() == trace.ids.tolist()
    other, _, _ = run_campaign(DatasetPool(_diabetes()), RandomPolicy(), params, seed=4)
    assert other.ids.tolist() != trace.ids.tolist()
    assert np.all(np.diff(trace.best_so_far) >= 0)
    top = top_ids(pool.pool_values(), 0.01)
    assert len(top) == 5  # ceil(1 % of 442)


class Progeny(Environment):
    """A breeding-like world: every round offers new candidates (children of the last batch)."""

    def reset(self, seed: int) -> Candidates:
        self.generation = 0
        return self._offer()

    def _offer(self) -> Candidates:
        ids = [f"g{self.generation}-{k}" for k in range(6)]
        features = np.full((6, 1), float(self.generation)) + np.arange(6)[:, None]
        return Candidates.pool(ids, features)

    def measure(self, batch: Candidates) -> Measurement:
        self.generation += 1
        return Measurement(values=batch.features[:, 0], candidates=self._offer())


class Recording(RandomPolicy):
    def __init__(self) -> None:
        self.offered: list[list[str]] = []

    def suggest(self, history: History, candidates: Candidates, q: int, *, seed: int) -> Candidates:
        self.offered.append(candidates.ids.tolist())
        return super().suggest(history, candidates, q, seed=seed)


def test_the_candidate_set_may_change_every_round() -> None:
    policy = Recording()
    trace, _, _ = run_campaign(Progeny(), policy, CampaignParams(n0=2, q=2, budget=8), seed=0)
    assert trace.ids.size == 8
    assert [{i.split("-")[0] for i in offer} for offer in policy.offered] == [
        {"g1"},
        {"g2"},
        {"g3"},
    ]


class Greedy(RandomPolicy):
    def __init__(self, count: int) -> None:
        self.count = count

    def suggest(self, history: History, candidates: Candidates, q: int, *, seed: int) -> Candidates:
        return candidates.take(np.arange(self.count))


def test_a_policy_that_chooses_wrongly_gets_one_line() -> None:
    pool = DatasetPool(_diabetes())
    params = CampaignParams(n0=2, q=3, budget=8)
    with pytest.raises(DataError, match="chose 1 candidates, 3 were asked for"):
        run_campaign(pool, Greedy(1), params, seed=0)
    space = Candidates.of_space(Box(np.zeros(2), np.ones(2)))
    history = History.empty(2).add(Candidates.points([[0.5, 0.5]], "r0"), np.array([1.0]), 0)

    class Outside(RandomPolicy):
        def suggest(self, history: History, candidates: Candidates, q: int, *, seed: int) -> Any:
            return Candidates.points(np.full((q, 2), 2.0), "bad")

    with pytest.raises(DataError, match="outside the design space"):
        propose(Outside(), history, space, params, 0, 1)


@pytest.mark.parametrize("name", ["greedy", "ucb"])
def test_surrogate_policies_choose_untried_candidates(core_catalog: Catalog, name: str) -> None:
    policy = build_policy(name, {"n_estimators": 10}, core_catalog.policies)
    trace, _, _ = run_campaign(Hartmann6(), policy, CampaignParams(n0=6, q=3, budget=12), seed=0)
    assert trace.ids.size == 12
    assert len(set(trace.ids.tolist())) == 12
    pooled, _, _ = run_campaign(
        DatasetPool(_diabetes()), policy, CampaignParams(n0=6, q=3, budget=12), seed=0
    )
    assert len(set(pooled.ids.tolist())) == 12


@pytest.mark.extras  # assay[bo]
def test_the_botorch_policy_runs_on_a_space_and_a_pool(core_catalog: Catalog) -> None:
    policy = build_policy(
        "bo_qlognei", {"num_restarts": 1, "raw_samples": 16}, core_catalog.policies
    )
    trace, _, _ = run_campaign(Hartmann6(), policy, CampaignParams(n0=6, q=2, budget=8), seed=0)
    assert trace.ids.size == 8
    assert np.all(trace.truth > 0)
    pooled, _, _ = run_campaign(
        DatasetPool(_diabetes()), policy, CampaignParams(n0=6, q=2, budget=10), seed=0
    )
    assert len(set(pooled.ids.tolist())) == 10


def test_without_botorch_its_policy_is_one_line_and_a_recorded_failure(
    core_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "botorch", None)  # import botorch now raises ImportError
    with pytest.raises(AssayError, match=r"pip install 'assay\[bo\]'") as info:
        build_policy("bo_qlognei", {}, core_catalog.policies)
    assert "\n" not in str(info.value)
    models = [ModelEntry(name="random"), ModelEntry(name="bo_qlognei")]
    tasks = plan_grid(core_catalog, [GridEntry("core/hartmann6-loop", models, [0])], "quick")
    results = [execute_unit(task, core_catalog) for task in tasks]
    assert [r.ok for r in results] == [True, False]
    assert "not installed" in results[1].error


def test_a_closed_loop_board_pairs_seeds_and_draws_discovery_curves(core_catalog: Catalog) -> None:
    models = [ModelEntry(name="random"), ModelEntry(name="ucb", params={"n_estimators": 10})]
    entry = GridEntry("core/diabetes-loop", models, [0, 1, 2])
    tracker = Tracker()
    serial = make_executor("serial", catalog=core_catalog)
    report = run_grid(core_catalog, plan_grid(core_catalog, [entry], "quick"), serial, tracker)
    assert not report.failures
    assert len(report.results) == 6
    run = tracker.client.get_run(report.results[0].run_id)
    history = tracker.client.get_metric_history(run.info.run_id, "best_so_far")
    assert [m.step for m in history] == [5, 10, 15]  # one point per round
    again = run_grid(core_catalog, plan_grid(core_catalog, [entry], "quick"), serial, tracker)
    assert again.skipped == 6
    assert not again.results
    spec = core_catalog.scenario("core/diabetes-loop").spec
    board = build_board(tracker.client, spec, "quick", models)
    assert board is not None
    assert "paired over seeds" in board.method
    assert board.curve_metric == "top_recall"
    assert set(board.curves) == {"random", "ucb"}
    assert board.curves["random"].seeds == 3
    assert len(board.curves["random"].median) == 15
    random = next(e for e in board.entries if e.model == "random")
    assert random.discovery["ef"] == pytest.approx(1.0) or np.isnan(random.discovery["ef"])
    assert random.metrics["top_recall"].n == 3


def _diabetes() -> data.Dataset:
    x, y = load_diabetes(return_X_y=True)
    return data.Dataset(x, y, data.DatasetMetadata("diabetes", "1", "scikit-learn", "BSD"))
