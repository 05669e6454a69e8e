"""Heavy reads beside ingest: answered by a real worker, or stopped by its read limits."""

from __future__ import annotations

import time

from lineage_processors.bench.reads import HEAVY_READS, ReadLoop, auth_check_cost
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess


def test_the_loop_counts_reads_answered_and_reads_stopped_by_a_limit(
    settings: WorkerSettings,
) -> None:
    # A one-second limit stops the computation meant to run into it, and only that.
    worker = WorkerProcess(settings.replace(read_max_seconds=1.0)).start()
    loop = ReadLoop(worker.url, settings.read_token)
    try:
        deadline = time.monotonic() + 120
        while (loop.answered < 2 or loop.stopped < 1) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        loop.close()
        worker.stop()
    assert loop.answered >= 2 and loop.stopped >= 1, (loop.answered, loop.stopped)
    # Every third read is the one that runs into the limit.
    assert loop.stopped <= loop.answered // 2 + 1
    assert len(HEAVY_READS) == 3


def test_the_token_check_costs_a_small_fraction_of_a_request() -> None:
    cost = auth_check_cost()
    assert 0 < cost < 1e-3  # seconds; a request to the worker takes milliseconds
