"""Talking to a shared MLflow tracking server that may restart or refuse us.

A team's server (`MLFLOW_TRACKING_URI=http://...`) can be restarted, or lose
its database for a moment, while a suite runs. Every tracking call the driver
makes then goes through `RetryingClient`: a call that fails for a transient
reason (no connection, a timeout, an HTTP 5xx or 429) is retried with
exponential backoff, capped at `MAX_DELAY_S` between tries, for at most
`ASSAY_TRACKING_RETRY_S` seconds in all (default 300). Past that bound the
suite stops with one line (`TrackingUnavailable`); rerunning the same command
later resumes it, since every finished unit is in the store and the stopped
driver's claims are abandoned once it is gone (`assay.engine.ownership`).

MLflow's own HTTP retries are turned down to none for such a server (unless
the user set `MLFLOW_HTTP_REQUEST_MAX_RETRIES`), so this bound is the one that
holds. Credentials are MLflow's own variables, `MLFLOW_TRACKING_USERNAME` and
`MLFLOW_TRACKING_PASSWORD`; a server that rejects them is a user error
(`TrackingAuthError`), never retried. A URI with credentials inside
(`http://user:secret@host`) is printed without them (`redact`).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from mlflow.exceptions import MlflowException

from assay.errors import AssayError, reason

RETRY_ENV = "ASSAY_TRACKING_RETRY_S"
DEFAULT_RETRY_S = 300.0
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 15.0
HTTP_RETRIES_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
HTTP_TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_TIMEOUT"
MAX_TRY_S = 30
"""The longest one request may take: past it, a server that took the connection and
never answers counts as down."""

_log = logging.getLogger(__name__)


class TrackingUnavailable(AssayError):
    """The tracking server did not answer within the retry bound."""


class TrackingAuthError(AssayError):
    """The tracking server refused the credentials (HTTP 401 or 403)."""


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def redact(uri: str) -> str:
    """The URI without a user name or password inside it."""
    parts = urllib.parse.urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def retry_bound_s() -> float:
    """The bound from `ASSAY_TRACKING_RETRY_S` (seconds, 0 for no retries), else the default."""
    text = os.environ.get(RETRY_ENV, "")
    if not text:
        return DEFAULT_RETRY_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0:
        raise AssayError(f"{RETRY_ENV} must be a number of seconds >= 0, not '{text}'")
    return value


def try_timeout_s(bound_s: float) -> int:
    """One request's timeout in whole seconds (MLflow reads an integer): short enough
    that a few tries fit in the retry bound (a server stopping may hold a kept-alive
    connection without answering), at most `MAX_TRY_S`; with no retries (a bound of 0),
    the full `MAX_TRY_S`."""
    if bound_s == 0:
        return MAX_TRY_S
    return max(1, min(MAX_TRY_S, int(bound_s // 3)))


def configure_for_server() -> None:
    """MLflow retries a failed request up to 7 times over minutes, inside each of our
    tries; with none there, our bound is the one that holds. A per-request timeout too
    (`try_timeout_s`), so a server that accepts connections but never answers counts as
    down. And no link printed to stdout per finished run, which would break `--json`."""
    os.environ.setdefault(HTTP_RETRIES_ENV, "0")
    os.environ.setdefault(HTTP_TIMEOUT_ENV, str(try_timeout_s(retry_bound_s())))
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    _settle_request_header_providers()


def _settle_request_header_providers() -> None:
    """MLflow asks each of its request-header providers on every request whether it is in
    context; Databricks' answers by trying to import Databricks' runtime modules, a search
    of the whole path that fails each time (a tenth of the driver's CPU through a server).
    Whether this process runs on Databricks does not change while it runs: ask once, and
    keep the providers that are in context."""
    from mlflow.tracking.request_header import registry

    providers = registry._request_header_provider_registry
    providers._registry = [p for p in providers._registry if _in_context(p)]


def _in_context(provider: Any) -> bool:
    try:
        return bool(provider.in_context())
    except Exception:  # MLflow skips a provider that fails, on every request
        return False


def _http_timeout_s() -> float:
    """The per-request timeout MLflow will use (`configure_for_server` sets it)."""
    try:
        return float(os.environ.get(HTTP_TIMEOUT_ENV, ""))
    except ValueError:
        return float(MAX_TRY_S)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an MLflow error stands for, if it came from MLflow."""
    if isinstance(exc, MlflowException):
        return int(exc.get_http_status_code())  # type: ignore[no-untyped-call]
    return None


def is_transient(exc: BaseException) -> bool:
    """A failure that may pass: the server restarting, its database away, overload."""
    status = status_of(exc)
    if status is not None:
        return status == 429 or status >= 500
    return isinstance(exc, OSError | TimeoutError)


def is_refusal(exc: BaseException) -> bool:
    return status_of(exc) in (401, 403)


class RetryingClient:
    """Forwards every call to an `MlflowClient`, retrying transient failures within the
    bound. Shared by the driver's threads (the heartbeat's too)."""

    def __init__(self, client: Any, uri: str, bound_s: float) -> None:
        self._client = client
        self._where = redact(uri)
        self._bound_s = bound_s
        self._try_s = _http_timeout_s()
        """How long a try may take: no try starts that could end past the bound."""
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._gave_up = ""
        """Why this client stopped retrying; once set, every call fails at once."""

    @property
    def tracking_uri(self) -> str:
        return str(self._client.tracking_uri)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._call(name, attribute, args, kwargs)

        return call

    def _call(
        self, name: str, method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self._gave_up:  # the suite is stopping: no call waits out the bound again
            raise TrackingUnavailable(self._gave_up)
        start = time.monotonic()
        delay = FIRST_DELAY_S
        while True:
            try:
                result = method(*args, **kwargs)
            except Exception as exc:
                if is_refusal(exc):
                    raise TrackingAuthError(
                        f"the MLflow server at {self._where} refused this driver "
                        f"(HTTP {status_of(exc)}): set MLFLOW_TRACKING_USERNAME and "
                        "MLFLOW_TRACKING_PASSWORD to an account allowed to write there"
                    ) from None
                if not is_transient(exc):
                    raise
                waited = time.monotonic() - start
                if waited + delay + self._try_s > self._bound_s:
                    self._gave_up = (
                        f"the MLflow server at {self._where} did not answer for {waited:.0f} s "
                        f"({RETRY_ENV}={self._bound_s:g}) during {name}: {reason(exc)[:300]}; "
                        "the suite stopped; every finished unit is recorded, so rerun the "
                        "same command once the server is back to resume it"
                    )
                    raise TrackingUnavailable(self._gave_up) from None
                self._note_down(exc)
                time.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, MAX_DELAY_S)
                continue
            self._note_up()
            return result

    def _note_down(self, exc: Exception) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        _log.warning(
            "the MLflow server at %s is not answering (%s); retrying for up to %g s",
            self._where,
            reason(exc)[:200],
            self._bound_s,
        )

    def _note_up(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            _log.warning(
                "the MLflow server at %s answers again after %.0f s",
                self._where,
                time.monotonic() - since,
            )
