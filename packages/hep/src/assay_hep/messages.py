"""One-line error messages around library exceptions.

uproot and h5py put newlines (and indented context) into their messages; the
CLI prints a user error as one line, so a library message is folded onto it.
A candidate for the core (`assay.errors`), kept here until it moves.
"""

from __future__ import annotations


def one_line(text: str) -> str:
    """`text` with every run of whitespace, newlines included, as one space."""
    return " ".join(text.split())


def reason(exc: BaseException) -> str:
    """`ExcType: message` of a library exception, on one line."""
    message = one_line(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
