"""Closed loops: the public API for environments and policies (stable; plugins build on it).

A closed-loop scenario scores a *policy* that chooses experiments, against an
*environment* that answers them (a simulator, or a pool of candidates whose
values were measured). The same policy drives a simulated benchmark (`assay
run` / `assay suite run`, one unit per seed's campaign) and a real campaign
(`assay campaign start/suggest/observe/status`).

A campaign: `environment.reset(seed)` gives the first candidates; a seeded
random initial design of `n0` candidates is measured; then each round the
policy picks a batch of `q` from the current candidates, the environment
measures it, until `budget` evaluations (initial design included) are spent.
Values are always **maximised**: an environment whose quantity is to be
minimised returns its negative.

How a plugin adds an environment
--------------------------------
1. Subclass `Environment` (below) and implement `reset(seed)` and
   `measure(batch)`; give `optimum` (the best noise-free value) where it is
   known, so simple regret can be scored, and keep a pool's noise-free
   values in `pool_values()` so top-k recall can be.
2. Register a factory under a name in the plugin (`**params` come from the
   scenario file; a scenario that also names a `[source]` passes the loaded
   dataset as `dataset=`)::

       plugin = Plugin(name="materials", ..., environments={"materials.alloys": AlloyPool})

3. Write the scenario file (data only)::

       schema_version = 1
       id = "materials/alloy-loop"
       version = "1"
       title = "..."
       task = "closed-loop"
       models = ["random", "ucb", "bo_qlognei"]   # policies take the models' slot

       [environment]
       name = "materials.alloys"
       params = { noise = 0.05 }

       # [source] is optional: with one, the environment gets its dataset as `dataset=`

       [protocol]
       name = "closed_loop"
       seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]   # one unit per seed (>= 10 on a standard board)
       params = { n0 = 10, q = 5, budget = 60 }
       sizes.quick = { seeds = [0, 1], params = { n0 = 5, q = 5, budget = 20 } }

       [[metrics]]                                # from CAMPAIGN_METRICS
       name = "best_at_budget"
       direction = "maximize"

       [controls]
       negative = "random"

Candidates
----------
`Candidates` is what the policy chooses from: a pool (`ids` + `features`,
one row per candidate, optional domain `inputs` aligned with them), or a
bounded continuous design space (`space` is a `Box`; the policy may propose
any point inside, and `ids`/`features` hold none). Ids are strings, unique
within a campaign: they are how a real lab's measurement file names what it
measured, and how the campaign never counts a candidate twice.

The candidate set may change every round (breeding: progeny of the selected
parents): `measure` returns a `Measurement` whose `candidates` is the next
round's set, or None to keep the current one. The campaign hands the policy
the current set minus the ids measured already.

Policies
--------
A policy is anything with `suggest(history, candidates, q, *, seed)` returning
the chosen `Candidates` (rows of a pool, `candidates.take(indices)`, or new
points of a space, `Candidates.points(x, prefix)`). A plugin registers
policy factories in `Plugin.policies`; a user names theirs as
`module:Class`, exactly like a model, with parameters from `-p`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from assay.data.dataset import Dataset
from assay.errors import DataError, SpecError, UnknownNameError
from assay.params import Params, check_factory_params
from assay.registry import Registry, import_object

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Box:
    """A bounded continuous design space: `lower[i] <= x[i] <= upper[i]`."""

    lower: FloatArray
    upper: FloatArray
    names: tuple[str, ...] = ()
    """Column names of the features (x0, x1, ... when empty)."""

    def __post_init__(self) -> None:
        lower, upper = np.asarray(self.lower, dtype=float), np.asarray(self.upper, dtype=float)
        if lower.ndim != 1 or lower.shape != upper.shape or not np.all(lower < upper):
            raise DataError("a Box needs 1-D lower and upper bounds with lower < upper")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    @property
    def dim(self) -> int:
        return int(self.lower.size)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.names or tuple(f"x{i}" for i in range(self.dim))

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """`n` points drawn uniformly inside the box."""
        return self.lower + rng.random((n, self.dim)) * (self.upper - self.lower)


@dataclass(frozen=True)
class Candidates:
    """What a policy chooses from: a pool of featurised candidates, or a `Box` space."""

    ids: npt.NDArray[np.str_]
    features: FloatArray
    """(n, d) numeric features; what surrogate models fit on."""
    inputs: Any = None
    """Optional domain objects (compositions, genotypes) aligned with `ids`."""
    space: Box | None = None
    """A continuous design space: any point inside may be proposed (then `ids` is empty)."""

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, dtype=str)
        features = np.asarray(self.features, dtype=float)
        if features.ndim != 2 or features.shape[0] != ids.shape[0]:
            raise DataError(
                f"candidates: features of shape {features.shape} do not match {ids.shape[0]} ids"
            )
        if len(set(ids.tolist())) != ids.size:
            raise DataError("candidates: ids must be unique")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "features", features)

    def __len__(self) -> int:
        return int(self.ids.size)

    @property
    def is_space(self) -> bool:
        return self.space is not None

    @classmethod
    def pool(
        cls, ids: Sequence[str] | npt.NDArray[Any], features: Any, inputs: Any = None
    ) -> Candidates:
        return cls(np.asarray(ids, dtype=str), np.asarray(features, dtype=float), inputs)

    @classmethod
    def of_space(cls, space: Box) -> Candidates:
        return cls(np.empty(0, dtype=str), np.empty((0, space.dim)), None, space)

    @classmethod
    def points(cls, x: Any, prefix: str) -> Candidates:
        """New points of a space, named `prefix-0`, `prefix-1`, ..."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return cls(np.array([f"{prefix}-{k}" for k in range(len(x))], dtype=str), x)

    def take(self, indices: Sequence[int] | npt.NDArray[np.integer[Any]]) -> Candidates:
        """The rows `indices` of a pool (their inputs too)."""
        from assay.data.dataset import take

        rows = np.asarray(indices, dtype=np.int64)
        inputs = None if self.inputs is None else take(self.inputs, rows)
        return Candidates(self.ids[rows], self.features[rows], inputs)

    def without(self, ids: set[str]) -> Candidates:
        """A pool less the candidates named (those measured already)."""
        if self.is_space or not ids:
            return self
        keep = np.flatnonzero([i not in ids for i in self.ids.tolist()])
        return self.take(keep)


@dataclass(frozen=True)
class Measurement:
    """What the environment answers for a batch, row-aligned with it."""

    values: FloatArray
    """Observed values (noise included); maximised."""
    truth: FloatArray | None = None
    """Noise-free values where the simulator knows them; scores use them when given."""
    cost: FloatArray | None = None
    """Optional cost of each measurement (recorded; the budget counts evaluations)."""
    candidates: Candidates | None = None
    """The next round's candidate set, or None to keep the current one."""


class Environment(ABC):
    """One campaign's world: fresh per campaign (per seed), answered in rounds."""

    optimum: float | None = None
    """The best noise-free value anywhere (None when unknown); simple regret needs it."""

    @abstractmethod
    def reset(self, seed: int) -> Candidates:
        """Start a campaign (noise and any stochastic candidates seeded by `seed`)."""

    @abstractmethod
    def measure(self, batch: Candidates) -> Measurement:
        """Measure the chosen candidates (rows of the current set, or points of the space)."""

    def pool_values(self) -> Mapping[str, float] | None:
        """Noise-free values of every candidate of a fixed pool (for top-k recall); None
        for a space or a pool that changes."""
        return None


@dataclass(frozen=True)
class History:
    """Everything measured so far in a campaign, in order."""

    ids: npt.NDArray[np.str_]
    features: FloatArray
    values: FloatArray
    rounds: npt.NDArray[np.int64]
    """The round of each measurement (0 for the initial design)."""

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def empty(cls, dim: int) -> History:
        return cls(
            np.empty(0, dtype=str), np.empty((0, dim)), np.empty(0), np.empty(0, dtype=np.int64)
        )

    def add(self, batch: Candidates, values: FloatArray, round_: int) -> History:
        return History(
            np.concatenate([self.ids, batch.ids]),
            np.vstack([self.features, batch.features]),
            np.concatenate([self.values, np.asarray(values, dtype=float)]),
            np.concatenate([self.rounds, np.full(len(batch), round_, dtype=np.int64)]),
        )


@runtime_checkable
class Policy(Protocol):
    """Chooses the next batch. `seed` is fixed per (campaign seed, round), so a campaign
    resumed in a real lab suggests the same batch again."""

    def suggest(
        self, history: History, candidates: Candidates, q: int, *, seed: int
    ) -> Candidates: ...


EnvironmentFactory = Callable[..., Environment]
PolicyFactory = Callable[..., Policy]
EnvironmentEntry = EnvironmentFactory | str
PolicyEntry = PolicyFactory | str
"""What a plugin registers: a factory, or `"module:factory"` imported only when used."""


class CampaignParams(Params):
    """A campaign's shape, from `[protocol] params` of a closed-loop scenario."""

    n0: int = Field(ge=1, description="random initial design")
    q: int = Field(ge=1, description="batch size per round")
    budget: int = Field(ge=1, description="evaluations in all, initial design included")
    top_fraction: float = Field(default=0.01, gt=0, le=1, description="top-k recall's k")

    @model_validator(mode="after")
    def _fits(self) -> CampaignParams:
        if self.n0 > self.budget:
            raise ValueError(f"n0 = {self.n0} is larger than the budget {self.budget}")
        return self


def build_environment(
    name: str,
    params: Mapping[str, Any],
    registry: Registry[EnvironmentEntry],
    dataset: Dataset | None = None,
) -> Environment:
    """A fresh environment from its registered name, with the scenario's parameters
    parsed against what its factory declares."""
    entry = registry.get(name)
    factory: EnvironmentFactory = import_object(entry) if isinstance(entry, str) else entry
    origin = f"environment '{name}'"
    kwargs = check_factory_params(origin, factory, params, error=SpecError, skip=("dataset",))
    environment = factory(**kwargs) if dataset is None else factory(dataset=dataset, **kwargs)
    if not isinstance(environment, Environment):
        raise UnknownNameError(f"environment '{name}' did not build an assay Environment")
    return environment


def resolve_policy(
    name: str, params: Mapping[str, Any], registry: Registry[PolicyEntry]
) -> PolicyFactory:
    """The factory for a registered policy or `module:Class`, checked against `params`."""
    factory = _policy_factory(name, registry)
    check_factory_params(f"policy '{name}'", factory, params, error=UnknownNameError)
    return factory


def _policy_factory(name: str, registry: Registry[PolicyEntry]) -> PolicyFactory:
    entry: PolicyEntry = name if ":" in name else registry.get(name)
    return import_object(entry) if isinstance(entry, str) else entry


def build_policy(name: str, params: Mapping[str, Any], registry: Registry[PolicyEntry]) -> Policy:
    factory = _policy_factory(name, registry)
    policy = factory(
        **check_factory_params(f"policy '{name}'", factory, params, error=UnknownNameError)
    )
    if not isinstance(policy, Policy):
        raise UnknownNameError(f"'{name}' did not build a policy (it needs suggest())")
    return policy
