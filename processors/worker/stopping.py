"""How the worker stops: within STOP_SECONDS of SIGTERM, whatever Kafka and ClickHouse do.

A stop asks every consumer to finish the batch in hand and commit it. A batch not stored
within BATCH_GRACE_SECONDS (a store refusing writes, a long insert) is given up: its offsets
stay uncommitted, so it is read again at the next start, where recovery leaves out whatever
of it did land. Threads still inside a store or Kafka call once the event loop has closed
get what is left of STOP_SECONDS; then the process exits without them, as a crash would,
which the store and the offsets are built to survive. A watchdog ends the process at
STOP_SECONDS whatever else still holds it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# From the stop's first step to exit, at most: inside the 10 s a stop may take, with room
# for an overloaded machine's delay in handling the signal at all (1.4 s seen under a load
# of 15 on two cores), and well inside the 30 s `lineage down` and Kubernetes wait before
# they SIGKILL.
STOP_SECONDS = 7.0
# What a batch being stored gets to finish and be committed once the stop began: an insert
# of a full batch takes well under a second when the store is healthy.
BATCH_GRACE_SECONDS = 3.0


class Deadline:
    """The time by which a stopping worker is gone; :meth:`start` when the stop begins."""

    def __init__(self, seconds: float = STOP_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.at: float | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """The stop begins (again: no effect): a watchdog ends the process at the deadline."""
        with self._lock:
            if self.at is not None:
                return
            self.at = self.clock() + self.seconds
        threading.Thread(target=self._watch, name="stop-watchdog", daemon=True).start()

    def left(self) -> float:
        """Seconds until the deadline (all of them before the stop began)."""
        return self.seconds if self.at is None else max(0.0, self.at - self.clock())

    def _watch(self) -> None:
        time.sleep(self.left())
        exit_now(0, f"the worker did not stop within {self.seconds:g}s: it exits now")


def busy_threads() -> list[threading.Thread]:
    """Threads the interpreter would wait for before exiting: alive, not daemons, not the
    caller. An executor's idle threads go once it is shut down."""
    me = threading.current_thread()
    return [t for t in threading.enumerate() if t is not me and t.is_alive() and not t.daemon]


def wait_for_threads(timeout: float) -> list[threading.Thread]:
    """Wait up to ``timeout`` seconds for the busy threads to end; return those that did not."""
    until = time.monotonic() + timeout
    for thread in busy_threads():
        thread.join(max(0.0, until - time.monotonic()))
    return busy_threads()


def exit_code(error: BaseException | None) -> int:
    """The status a process ending on ``error`` (None: none) exits with."""
    if error is None:
        return 0
    if isinstance(error, SystemExit):
        return error.code if isinstance(error.code, int) else (0 if error.code is None else 1)
    return 1


def exit_now(code: int, why: str) -> None:
    """End the process at once, threads and all, with its logs flushed."""
    log.warning(
        "%s; offsets of batches not stored stay uncommitted, read again at the next start", why
    )
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or gone: nothing to flush
            stream.flush()
    os._exit(code)
