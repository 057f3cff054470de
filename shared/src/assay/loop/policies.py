"""The core's closed-loop policies: `random`, `greedy` and `ucb` over any registered
regression model that gives an uncertainty, and BoTorch's q-log-noisy-expected-improvement
with a Gaussian process (`bo_qlognei`, the optional extra `assay[bo]`).

Every policy maximises. A surrogate's uncertainty is `Predictions.uncertainty`
where the model gives one, else the spread of a fitted forest's trees.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.data.dataset import Dataset, DatasetMetadata
from assay.errors import DataError, NotInstalledError
from assay.evaluation.models import Model, build_model
from assay.loop.closed_loop import Candidates, History, PolicyFactory

SPACE_SAMPLES = 2048
"""Random points a surrogate policy scores in a continuous space (plus the same number
around the best points found so far)."""


class RandomPolicy:
    """Uniformly at random: the reference every other policy is measured against."""

    def suggest(self, history: History, candidates: Candidates, q: int, *, seed: int) -> Candidates:
        del history
        rng = np.random.default_rng(seed)
        if candidates.space is not None:
            return Candidates.points(candidates.space.sample(q, rng), "random")
        return candidates.take(np.sort(rng.choice(len(candidates), q, replace=False)))


def _space_points(
    candidates: Candidates, history: History, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Where to score a surrogate in a space: uniform points, and Gaussian steps (10 % of
    each side) around the ten best points measured, clipped into the box."""
    space = candidates.space
    assert space is not None
    uniform = space.sample(SPACE_SAMPLES, rng)
    best = history.features[np.argsort(-history.values)[:10]]
    centres = best[rng.integers(0, len(best), SPACE_SAMPLES)]
    local = centres + rng.normal(0, 0.1, centres.shape) * (space.upper - space.lower)
    return np.vstack([uniform, np.clip(local, space.lower, space.upper)])


def _regression_data(features: npt.NDArray[np.float64], values: Any = None) -> Dataset:
    return Dataset(
        inputs=np.asarray(features, dtype=float),
        targets=None if values is None else np.asarray(values, dtype=float),
        metadata=DatasetMetadata("campaign", "1", "measured in the campaign", "the campaign's"),
        task="regression",
    )


def _tree_spread(model: Any, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
    """The standard deviation across a fitted forest's trees, found through the core's
    wrappers (task dispatch, scikit-learn adapter, pipeline); None for other models."""
    inner = getattr(model, "model_", None) or model
    fitted = getattr(inner, "fitted_", None)
    if fitted is None:
        return None
    steps = list(fitted.steps) if hasattr(fitted, "steps") else [("estimator", fitted)]
    trees = getattr(steps[-1][1], "estimators_", None)
    if not isinstance(trees, list):  # a random forest's trees; boosting keeps an array
        return None
    for _, step in steps[:-1]:
        x = step.transform(x)
    per_tree = np.stack([tree.predict(x) for tree in trees])
    return np.asarray(per_tree.std(axis=0), dtype=float)


class SurrogatePolicy:
    """Fits a registered regression model to the measurements, scores the candidates with
    `mean + beta * std`, takes the best q (greedy: beta = 0)."""

    def __init__(
        self,
        surrogate: str = "random_forest",
        beta: float = 2.0,
        surrogate_params: Mapping[str, Any] | None = None,
    ) -> None:
        self.surrogate, self.beta = surrogate, beta
        self.surrogate_params = dict(surrogate_params or {"n_estimators": 100})

    def _model(self) -> Model:
        from assay.plugin import process_catalog

        return build_model(self.surrogate, self.surrogate_params, process_catalog().models)

    def suggest(self, history: History, candidates: Candidates, q: int, *, seed: int) -> Candidates:
        rng = np.random.default_rng(seed)
        model = self._model()
        model.fit(_regression_data(history.features, history.values), seed=seed)
        x = (
            _space_points(candidates, history, rng)
            if candidates.space is not None
            else candidates.features
        )
        predictions = model.predict(_regression_data(x))
        mean = np.asarray(predictions.values, dtype=float)
        score = mean
        if self.beta != 0.0:
            spread = predictions.uncertainty
            if spread is None:
                spread = _tree_spread(model, x)
            if spread is None:
                raise DataError(
                    f"surrogate '{self.surrogate}' gives no uncertainty (neither "
                    "Predictions.uncertainty nor a forest's trees): use it with greedy"
                )
            score = mean + self.beta * np.asarray(spread, dtype=float)
        # Ties broken at random, so a flat surrogate does not always pick the first rows.
        order = np.lexsort((rng.random(score.size), -score))[:q]
        if candidates.space is not None:
            return Candidates.points(x[order], "ucb")
        return candidates.take(np.sort(order))


def greedy(surrogate: str = "random_forest", n_estimators: int = 100) -> SurrogatePolicy:
    """The surrogate's best predicted mean (pure exploitation)."""
    params = {"n_estimators": n_estimators} if surrogate == "random_forest" else {}
    return SurrogatePolicy(surrogate, beta=0.0, surrogate_params=params)


def ucb(
    surrogate: str = "random_forest", beta: float = 2.0, n_estimators: int = 100
) -> SurrogatePolicy:
    """Upper confidence bound: mean + beta x the surrogate's uncertainty."""
    params = {"n_estimators": n_estimators} if surrogate == "random_forest" else {}
    return SurrogatePolicy(surrogate, beta=beta, surrogate_params=params)


class BotorchPolicy:
    """A Gaussian process (BoTorch's SingleTaskGP: Matern-5/2, one lengthscale per input,
    inputs scaled to the unit cube, outcomes standardised) with q-log-noisy-expected-
    improvement (Ament et al., NeurIPS 2023): a batch optimised jointly over a space,
    chosen greedily one at a time from a pool."""

    def __init__(
        self, num_restarts: int = 4, raw_samples: int = 256, mc_samples: int = 128
    ) -> None:
        try:
            # linear_operator (under gpytorch) calls torch.jit.script at import, which
            # torch 2.13 deprecates: a warning about their code, not the user's.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated")
                import botorch  # noqa: F401
        except ImportError:
            raise NotInstalledError(
                "policy 'bo_qlognei' needs BoTorch, which is not installed: pip install 'assay[bo]'"
            ) from None
        self.num_restarts, self.raw_samples, self.mc_samples = num_restarts, raw_samples, mc_samples

    def suggest(self, history: History, candidates: Candidates, q: int, *, seed: int) -> Candidates:
        import torch
        from botorch.acquisition.logei import qLogNoisyExpectedImprovement
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from botorch.optim.optimize import optimize_acqf, optimize_acqf_discrete
        from botorch.sampling.normal import SobolQMCNormalSampler
        from gpytorch.mlls import ExactMarginalLogLikelihood

        torch.manual_seed(seed)
        if candidates.space is not None:
            lower, upper = candidates.space.lower, candidates.space.upper
        else:
            both = np.vstack([history.features, candidates.features])
            lower, upper = both.min(axis=0), both.max(axis=0)
            upper = np.where(upper > lower, upper, lower + 1.0)  # a constant column

        def unit(x: npt.NDArray[np.float64]) -> torch.Tensor:
            return torch.tensor((x - lower) / (upper - lower), dtype=torch.float64)

        train_x = unit(history.features)
        train_y = torch.tensor(history.values, dtype=torch.float64).unsqueeze(-1)
        gp = SingleTaskGP(train_x, train_y, outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        acquisition = qLogNoisyExpectedImprovement(
            gp,
            X_baseline=train_x,
            sampler=SobolQMCNormalSampler(torch.Size([self.mc_samples]), seed=seed),
            prune_baseline=True,
        )
        if candidates.space is not None:
            dim = candidates.space.dim
            bounds = torch.stack([torch.zeros(dim), torch.ones(dim)]).to(torch.float64)
            x, _ = optimize_acqf(
                acquisition,
                bounds=bounds,
                q=q,
                num_restarts=self.num_restarts,
                raw_samples=self.raw_samples,
                options={"seed": seed},
            )
            points = lower + x.detach().numpy() * (upper - lower)
            return Candidates.points(np.clip(points, lower, upper), "bo")
        choices = unit(candidates.features)
        chosen, _ = optimize_acqf_discrete(acquisition, q=q, choices=choices, unique=True)
        index = {tuple(np.round(row, 12)): i for i, row in enumerate(choices.numpy())}
        rows = [index[tuple(np.round(row, 12))] for row in chosen.detach().numpy()]
        return candidates.take(np.sort(np.asarray(rows)))


def bo_qlognei(num_restarts: int = 4, raw_samples: int = 256) -> BotorchPolicy:
    """BoTorch GP + qLogNEI (needs the `assay[bo]` extra)."""
    return BotorchPolicy(num_restarts=num_restarts, raw_samples=raw_samples)


POLICIES: dict[str, PolicyFactory] = {
    "random": RandomPolicy,
    "greedy": greedy,
    "ucb": ucb,
    "bo_qlognei": bo_qlognei,
}
