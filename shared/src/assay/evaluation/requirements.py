"""What a model needs in the data (structures, sequences, constituents), checked before
anything runs.

A plugin names a need once, as a `Requirement` whose check says what the data hold
instead, and marks each model factory that has it with `@requires(NEED)`. The runner
checks every entry against the prepared dataset while it plans the grid, so a model
the data cannot serve is one line naming the model and what is missing, not a grid of
units that each fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from assay.data.dataset import Dataset
from assay.errors import DataError

F = TypeVar("F")

_ATTRIBUTE = "__assay_requires__"


@dataclass(frozen=True)
class Requirement:
    name: str
    """What the model needs, as a user reads it: `structures` (atomic positions)."""
    lacks: Callable[[Dataset], str | None]
    """None when the data have it; otherwise what they hold instead (`row 0 is a str`)."""
    hint: str = ""
    """What to do about it, for the error line."""


def requires(*needs: Requirement) -> Callable[[F], F]:
    """Mark a model factory (a class or a function) with the inputs it needs."""

    def mark(factory: F) -> F:
        setattr(factory, _ATTRIBUTE, (*getattr(factory, _ATTRIBUTE, ()), *needs))
        return factory

    return mark


def requirements_of(factory: Any) -> tuple[Requirement, ...]:
    return tuple(getattr(factory, _ATTRIBUTE, ()))


def check_requirements(model: str, factory: Any, dataset: Dataset, *, scenario: str) -> None:
    """Raise one line when the data lack something the model needs."""
    for need in requirements_of(factory):
        found = need.lacks(dataset)
        if found is not None:
            hint = f"; {need.hint}" if need.hint else ""
            raise DataError(
                f"model {model} needs {need.name}, which the data of {scenario} lack "
                f"({found}){hint}"
            )
