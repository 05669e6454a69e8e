"""Store calls on the store's one thread: once, or again with backoff until the store takes
them, with readiness and the metrics seeing the failures meanwhile; only a cancellation
ends the retries otherwise."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from lineage_processors.errors import StoreError
from lineage_processors.ingest.store_thread import RETRY_FIRST_SECONDS, StoreThread
from lineage_processors.ops.metrics import WorkerMetrics


def errors(m: WorkerMetrics) -> float | None:
    return m.registry.get_sample_value("lineage_clickhouse_errors_total", {"operation": "write"})


def test_a_call_runs_on_the_store_thread() -> None:
    thread = StoreThread(ThreadPoolExecutor(1, thread_name_prefix="store"))
    name = asyncio.run(thread.once(lambda: threading.current_thread().name))
    assert name.startswith("store")


def test_a_refused_call_is_made_again_until_the_store_takes_it() -> None:
    metrics = WorkerMetrics.fresh()
    thread = StoreThread(ThreadPoolExecutor(1), metrics)
    calls: list[int] = []
    seen: list[float] = []

    def write(n: int) -> int:
        calls.append(n)
        if len(calls) < 3:
            raise StoreError("the store is restarting")
        seen.append(thread.write_failures.seconds())
        return n * 2

    assert asyncio.run(thread.until_stored(write, 21)) == 42
    assert calls == [21, 21, 21]
    assert seen[0] >= RETRY_FIRST_SECONDS * 3  # failing since the first try, with backoff
    assert thread.errors == 2 and errors(metrics) == 2
    assert thread.write_failures.seconds() == 0.0 and thread.write_failures.error == ""


def test_only_a_cancellation_ends_the_retries() -> None:
    thread = StoreThread(ThreadPoolExecutor(1))

    def refuse() -> None:
        raise StoreError("down")

    async def scenario() -> None:
        task = asyncio.ensure_future(thread.until_stored(refuse))
        await asyncio.sleep(RETRY_FIRST_SECONDS * 2)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())
    assert thread.errors >= 1
    assert thread.write_failures.error == "down" and thread.write_failures.seconds() > 0


def test_errors_other_than_the_stores_are_not_retried() -> None:
    thread = StoreThread(ThreadPoolExecutor(1))

    def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        asyncio.run(thread.until_stored(broken))
    assert thread.errors == 0
