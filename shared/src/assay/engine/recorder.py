"""Writing finished units to MLflow beside the next unit's work.

Through a shared server every write is a request that waits on the network, the server
and its database; a unit's record is four or five of them. A `Recorder` with
`background=True` writes records on a thread of its own, one after the other in the
order they were handed in, while the driver claims and dispatches the next units. With
a local store (sqlite, files) the writes are this process's own CPU work under the GIL,
so they run in line, as before.

Nothing is lost: leaving the `with` block waits until every record handed in has been
written, also when the block is left by an exception (a Ctrl-C while a unit runs). The
first record that fails stops the recording; its error is raised in the driver at the
next hand-over or on leaving, and the records after it are not written (their units'
claims are abandoned by the runner, so they run again next time).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from types import TracebackType

Job = Callable[[], None]

_log = logging.getLogger(__name__)

DEPTH = 4
"""Records waiting at most; the driver waits before handing in more (a slow store holds
back dispatching rather than piling up results in memory)."""


class Recorder:
    def __init__(self, background: bool, depth: int = DEPTH) -> None:
        self.background = background
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="assay-recorder", daemon=True)

    def submit(self, job: Job) -> None:
        """Write a record: now, or after those handed in before it."""
        self._raise_failure()
        if self.background:
            self._jobs.put(job)
        else:
            job()

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._error is None:  # after a failure the rest wait for the next run
                try:
                    job()
                except BaseException as exc:  # raised again in the driver
                    self._error = exc

    def _raise_failure(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __enter__(self) -> Recorder:
        if self.background:
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.background:
            self._jobs.put(None)
            self._thread.join()
        if exc is None:
            self._raise_failure()
        elif self._error is not None:  # the driver's own exception goes on
            _log.error("writing a unit's record failed: %s", self._error)
