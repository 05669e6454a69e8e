"""The store's one thread, as ingest uses it: a call run there once, or until the store takes it.

chDB is in-process and blocking, so every store call of the worker's ingest runs on one
thread, off the event loop: Kafka heartbeats and the web endpoints stay responsive during a
long insert, and a single writer keeps inserts in the order batches were read. A store that
refuses a write is asked again with backoff, for as long as it takes; readiness and the
metrics see it meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from lineage_processors.errors import StoreError
from lineage_processors.ops.health import WriteFailures
from lineage_processors.ops.metrics import WorkerMetrics

log = logging.getLogger(__name__)

T = TypeVar("T")

# Waits between attempts while the store refuses writes: quick at first, for a blip, then
# no more than RETRY_MAX_SECONDS apart so the worker notices soon when it is back.
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 10.0


class StoreThread:
    """Runs store calls on ``executor`` (the store's one thread) for one topic's processor."""

    def __init__(self, executor: Executor, metrics: WorkerMetrics | None = None) -> None:
        self.executor = executor
        self.metrics = metrics
        self.write_failures = WriteFailures()  # what readiness reads
        self.errors = 0  # refusals so far, each retried

    async def once(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the store thread once."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def until_stored(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the store thread until it stops raising StoreError.

        Only a cancellation ends it otherwise: the consumer cancels a batch the worker's
        stop does not leave time to store, and its offsets stay uncommitted."""
        loop = asyncio.get_running_loop()
        wait = RETRY_FIRST_SECONDS
        while True:
            try:
                done = await loop.run_in_executor(self.executor, fn, *args)
                self.write_failures.succeeded()
                return done
            except StoreError as exc:
                self.write_failures.failed(exc)
                self.errors += 1
                if self.metrics is not None:
                    self.metrics.store_error("write", retried=True)
                log.warning("store unavailable, retrying in %.1fs: %s", wait, exc)
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_MAX_SECONDS)
