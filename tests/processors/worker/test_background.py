"""Background tasks never end the worker: each failure counted exactly, logged, retried."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lineage_processors.errors import StoreError
from lineage_processors.ops.lag import LagError
from lineage_processors.ops.metrics import WorkerMetrics
from lineage_processors.worker.background import Background, guarded

ERRORS = "lineage_background_errors_total"


def errors(metrics: WorkerMetrics, task: str) -> float | None:
    return metrics.registry.get_sample_value(ERRORS, {"task": task})


class App:
    """What Background asks of a faust app: its timer and task decorators, recorded."""

    def __init__(self) -> None:
        self.timers: dict[str, tuple[float, Callable[[], Awaitable[None]]]] = {}
        self.tasks: list[Callable[[], Awaitable[None]]] = []

    def timer(self, interval: float, name: str) -> Callable[[Any], Any]:
        def register(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
            self.timers[name] = (interval, fn)
            return fn

        return register

    def task(self, fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        self.tasks.append(fn)
        return fn


def failing(*failures: BaseException) -> Callable[[], Awaitable[str]]:
    """A job that raises ``failures`` one call at a time, then answers "done"."""
    left = list(failures)

    async def job() -> str:
        if left:
            raise left.pop(0)
        return "done"

    return job


def test_guarded_counts_each_failure_logs_it_and_returns_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = WorkerMetrics.fresh()
    job = failing(LagError("Kafka did not answer"), RuntimeError("a bug"))
    with caplog.at_level(logging.WARNING, logger="lineage_processors.worker.background"):
        assert asyncio.run(guarded("lag", job, metrics, 5.0)) is None
        assert asyncio.run(guarded("lag", job, metrics, 5.0)) is None
        assert asyncio.run(guarded("lag", job, metrics, 5.0)) == "done"
    assert errors(metrics, "lag") == 2
    ours, bug = caplog.records
    # An error of ours says what is wrong; anything else comes with its traceback.
    assert ours.getMessage() == "lag failed, trying again in 5s: Kafka did not answer"
    assert ours.levelno == logging.WARNING and ours.exc_info is None
    assert bug.getMessage() == "lag failed, trying again in 5s"
    assert bug.levelno == logging.ERROR and bug.exc_info is not None


def test_guarded_lets_a_cancellation_through() -> None:
    metrics = WorkerMetrics.fresh()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(guarded("derive", failing(asyncio.CancelledError()), metrics, 1.0))
    assert errors(metrics, "derive") is None


def test_a_timer_runs_on_after_failures_each_counted_against_its_task() -> None:
    metrics = WorkerMetrics.fresh()
    app = App()
    runs: list[str] = []
    job = failing(LagError("timed out"), TimeoutError(), KeyError("x"))

    @Background(app, metrics).timer("lag", 2.5)
    async def measure() -> None:
        runs.append(await job())

    # Declared at 0 before any tick, so the first failure shows in rate().
    assert errors(metrics, "lag") == 0
    interval, tick = app.timers["lag"]
    assert interval == 2.5
    for _ in range(4):
        asyncio.run(tick())
    assert runs == ["done"]
    assert errors(metrics, "lag") == 3
    assert errors(metrics, "coverage") is None


def test_a_loop_pauses_as_each_run_says_and_for_its_interval_after_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics = WorkerMetrics.fresh()
    app = App()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    answers: list[Any] = [0.0, StoreError("the store refused"), 0.25, asyncio.CancelledError()]

    @Background(app, metrics).loop("derive", 1.5)
    async def derive() -> float:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return float(answer)

    [run] = app.tasks
    assert errors(metrics, "derive") == 0
    with pytest.raises(asyncio.CancelledError):  # the worker stops: the loop ends
        asyncio.run(run())
    assert answers == []
    assert slept == [0.0, 1.5, 0.25]
    assert errors(metrics, "derive") == 1
