"""The worker's background tasks: timers and loops that never end the worker.

faust ends the whole app when an exception escapes an ``app.timer`` or an ``app.task``: one
lag measurement that timed out while Kafka restarted took a healthy worker down with it. So
every background task of the worker (lag, coverage, derived state, the attribution sweep) is
registered through :class:`Background`, and each run of it goes through :func:`guarded`: a
failure is counted on ``lineage_background_errors_total{task=...}``, logged, and the task
runs again at its next tick. Ingest is the one task registered otherwise: a dead-letter
topic that refuses a record must stop the worker (see :mod:`lineage_processors.worker.app`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lineage_processors.errors import ProcessorError
from lineage_processors.ops.metrics import WorkerMetrics

log = logging.getLogger(__name__)

T = TypeVar("T")

Job = Callable[[], Awaitable[None]]
# A loop's job returns the pause before its next run.
LoopJob = Callable[[], Awaitable[float]]


async def guarded(
    task: str, job: Callable[[], Awaitable[T]], metrics: WorkerMetrics, retry_in: float
) -> T | None:
    """Run ``job`` once; on a failure count it against ``task``, log it and return None.

    Only ``Exception`` is caught: a cancellation (the worker stopping) still ends the task.
    """
    try:
        return await job()
    except Exception as exc:
        metrics.background_errors.labels(task).inc()
        if isinstance(exc, ProcessorError):
            # Ours say what went wrong: the message is enough.
            log.warning("%s failed, trying again in %gs: %s", task, retry_in, exc)
        else:
            log.exception("%s failed, trying again in %gs", task, retry_in)
        return None


class Background:
    """Registers the background tasks of a faust app, each run through :func:`guarded`."""

    def __init__(self, app: Any, metrics: WorkerMetrics) -> None:
        self.app = app  # a faust.App: its timer() and task() decorators
        self.metrics = metrics

    def timer(self, task: str, interval: float) -> Callable[[Job], Job]:
        """Decorator: run the job every ``interval`` seconds, as ``app.timer`` does."""

        def register(job: Job) -> Job:
            self._declare(task)

            async def tick() -> None:
                await guarded(task, job, self.metrics, interval)

            self.app.timer(interval=interval, name=task)(tick)
            return job

        return register

    def loop(self, task: str, interval: float) -> Callable[[LoopJob], LoopJob]:
        """Decorator: run the job again and again for as long as the app runs, pausing as
        long as each run says, or ``interval`` seconds after a run that failed."""

        def register(job: LoopJob) -> LoopJob:
            self._declare(task)

            async def run() -> None:
                while True:
                    pause = await guarded(task, job, self.metrics, interval)
                    await asyncio.sleep(interval if pause is None else pause)

            run.__name__ = run.__qualname__ = task  # faust names the task after it
            self.app.task(run)
            return job

        return register

    def _declare(self, task: str) -> None:
        # The task's series is there at 0 from the start, so rate() and increase() see its
        # first failure.
        self.metrics.background_errors.labels(task)
