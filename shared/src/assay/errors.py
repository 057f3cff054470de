"""Errors a user can fix. The CLI prints each as one sentence, without a traceback."""


class AssayError(Exception):
    """Base class: the message is one sentence that says what is wrong and what to do.

    It is folded onto one line, whatever a wrapped library message carried."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class SpecError(AssayError):
    """A scenario or suite file is invalid (bad TOML, unknown key, wrong type)."""


class UnknownNameError(AssayError):
    """A scenario, model, source, metric, split or protocol name is not registered."""


class DataError(AssayError):
    """Input data is missing, corrupt, or not in the expected format."""


class CacheError(AssayError):
    """A cache entry failed its checksum and cannot be rebuilt automatically."""


class SplitError(AssayError):
    """A split is invalid: it leaks indices or groups, or cannot be made from the data."""


class NotInstalledError(AssayError):
    """A component needs an optional extra that is not installed (`assay[bo]`, say)."""


class PredictionError(AssayError):
    """A model returned predictions of the wrong shape or with non-finite values."""


def one_line(text: str) -> str:
    """A message folded onto one line: libraries (uproot, h5py) put newlines in theirs."""
    return " ".join(text.split())


def reason(exc: BaseException) -> str:
    """`ExcType: message` of a library exception, on one line, to quote inside ours."""
    message = one_line(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
