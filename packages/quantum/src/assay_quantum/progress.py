"""A rich progress bar for long data generation, quiet when stderr is not a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")


def track(items: Iterable[T], *, total: int, description: str) -> Iterator[T]:
    """Yield `items` while a progress bar advances (rich hides it off a terminal)."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )
    with progress:
        bar = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(bar)
