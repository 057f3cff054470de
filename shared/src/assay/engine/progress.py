"""The one progress bar style for long work: units of a suite, data generation.

Bars go to stderr, so `--json` output on stdout stays clean; rich hides them
when stderr is not a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")


def progress_bar(
    *, console: Console | None = None, disable: bool = False, transient: bool = False
) -> Progress:
    """A bar with description, count done of total and elapsed time.

    Pass `console` to share one with a status spinner already on screen;
    otherwise the bar gets its own stderr console.
    """
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        disable=disable,
        transient=transient,
    )


def track(items: Iterable[T], *, total: int, description: str) -> Iterator[T]:
    """Yield `items` while a bar advances; it disappears when done."""
    with progress_bar(transient=True) as progress:
        bar = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(bar)
