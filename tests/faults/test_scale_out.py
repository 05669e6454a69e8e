"""Scale-out: several workers in one consumer group share the partitions and write to one
ClickHouse server; a worker SIGKILLed while events flow hands its partitions to the others,
and every event is still stored exactly once, with the derived state complete."""

from __future__ import annotations

import random
import time

from lineage_processors.local.clickhouse import LocalClickHouse
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess
from tests.faults.conftest import sized
from tests.faults.helpers import (
    consumed,
    exactly_once,
    kill,
    lag_is_zero,
    on_server,
    random_pause,
    start_group,
)
from tests.faults.workload import Flow


def wait_until_each_consumes(workers: list[WorkerProcess], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(consumed(w.settings) > 0 for w in workers):
        assert time.monotonic() < deadline, "\n\n".join(w.log()[-2000:] for w in workers)
        time.sleep(0.3)


def test_three_workers_on_a_server_share_partitions_and_survive_a_kill_exactly_once(
    settings: WorkerSettings, clickhouse_server: LocalClickHouse
) -> None:
    """Pass: three workers of one group, on one ClickHouse server, each consume part of the
    flow; one is SIGKILLed mid-flow and started again; afterwards the store holds every
    event exactly once (raw, FINAL, distinct ids), every model version's closure is
    complete, and the group's lag is zero."""
    rnd = random.Random(4)
    shared = on_server(settings, clickhouse_server)
    workers = start_group(shared, 3)
    flow = Flow(shared)
    kills = sized(1, 3)
    try:
        wait_until_each_consumes(workers)
        for _ in range(kills):
            victim = rnd.choice((1, 2))
            kill(workers[victim])
            random_pause(rnd, 0.5, 1.5)
            workers[victim] = WorkerProcess(workers[victim].settings).start()
        random_pause(rnd, 0.5, 1.0)
        events, models = flow.stop()
        exactly_once("scale-out", workers[0], events, models, kills, timeout=240)
        lag_is_zero(shared, [shared.topic_events, shared.topic_inferences], timeout=120)
        # Each training run i makes model m{i % 7} 1.i from d{i % 5} v{i} and shared v1: its
        # closure holds the run and both dataset versions, whichever worker stored them.
        workers[0].wait_for(
            "SELECT model_node FROM model_upstream FINAL GROUP BY model_node HAVING count() = 3",
            events,
            timeout=120,
        )
    finally:
        flow.stop()
        for w in workers:
            w.stop()
