"""Who is recording a unit, and whether they are still there.

A driver claims a unit by creating its run RUNNING, tagged with the driver's
identity (host, pid, process start time), the lease it promises and a
heartbeat that it refreshes every quarter lease while the unit runs. Another
driver leaves the claim alone until its owner is gone: on the same host, when
that process no longer exists (a pid means nothing on another host); elsewhere,
when the heartbeat is older than the lease, the longer of the owner's promise
and the judge's own `ASSAY_LEASE_S`, so no driver gives up on another sooner
than that one promised. Heartbeats compare clocks of two hosts: keep them in
sync to well under the lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

import psutil

from assay.errors import AssayError

LEASE_ENV = "ASSAY_LEASE_S"
DEFAULT_LEASE_S = 120.0
HOST = "assay.owner.host"
PID = "assay.owner.pid"
STARTED = "assay.owner.started"
LEASE = "assay.owner.lease_s"
HEARTBEAT = "assay.heartbeat"
DRIVER = "assay.owner.driver"
"""One driver (tracker) within its process: a retried request of the same driver carries
the same token, a second driver in the same process another."""
CLAIM_TAGS = frozenset({HOST, PID, STARTED, LEASE, HEARTBEAT, DRIVER})
"""Who held a run while it was being recorded: bookkeeping of one store, not a result."""
ABANDONED = "assay.abandoned"
"""Why a run was marked KILLED by assay: its owner is gone, or it duplicates another."""

_log = logging.getLogger(__name__)


def lease_s() -> float:
    """The lease from `ASSAY_LEASE_S` (seconds), else the default."""
    text = os.environ.get(LEASE_ENV, "")
    if not text:
        return DEFAULT_LEASE_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise AssayError(f"{LEASE_ENV} must be a positive number of seconds, not '{text}'")
    return value


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: float
    """The process's start time: a pid reused by a later process is another owner."""
    driver: str = ""

    @classmethod
    def current(cls) -> Owner:
        """This process, as a new driver."""
        process = psutil.Process()
        return cls(socket.gethostname(), process.pid, process.create_time(), uuid.uuid4().hex)

    def tags(self, lease: float) -> dict[str, str]:
        return {
            HOST: self.host,
            PID: str(self.pid),
            STARTED: repr(self.started),
            LEASE: repr(lease),
            HEARTBEAT: repr(time.time()),
            DRIVER: self.driver,
        }


def owned_by(tags: Mapping[str, str], owner: Owner) -> bool:
    """Whether a claim was made by `owner` (this very driver of this very process)."""
    return (
        tags.get(HOST) == owner.host
        and tags.get(PID) == str(owner.pid)
        and tags.get(STARTED) == repr(owner.started)
        and tags.get(DRIVER, "") == owner.driver
    )


def gone(tags: Mapping[str, str], *, here: Owner, lease: float, now: float) -> str | None:
    """Why the owner of a RUNNING claim is gone, or None while it may still be working."""
    if HOST not in tags:
        return "left running by a driver that recorded no owner"
    try:
        pid, started = int(tags[PID]), float(tags[STARTED])
        promised, beat = float(tags[LEASE]), float(tags[HEARTBEAT])
    except (KeyError, ValueError):
        return "its owner tags are unreadable"
    host = tags[HOST]
    if host == here.host:
        return None if _alive(pid, started) else f"its driver (pid {pid} on {host}) has exited"
    limit = max(promised, lease)
    if now - beat > limit:
        return f"no heartbeat from its driver (pid {pid} on {host}) for {now - beat:.0f} s, past the {limit:g} s lease"
    return None


def _alive(pid: int, started: float) -> bool:
    try:
        process = psutil.Process(pid)
        return (
            abs(process.create_time() - started) < 1.0 and process.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


class Heartbeat:
    """Refreshes, from a daemon thread, the heartbeat of every claim this driver holds."""

    def __init__(self, beat: Callable[[str], None], interval_s: float) -> None:
        self._beat = beat
        self._interval = interval_s
        self._runs: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="assay-heartbeat", daemon=True)

    def add(self, run_id: str) -> None:
        with self._lock:
            self._runs.add(run_id)

    def discard(self, run_id: str) -> None:
        with self._lock:
            self._runs.discard(run_id)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                runs = list(self._runs)
            for run_id in runs:
                try:
                    self._beat(run_id)
                except Exception as exc:  # a busy store: the next beat comes within the lease
                    _log.warning("heartbeat for run %s failed: %s", run_id, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
