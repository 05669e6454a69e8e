"""Readiness checks against real components: a real broker and chDB answer, others do not;
and a worker whose writes keep failing is not ready, whatever the probes say."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from lineage_processors.errors import StoreError
from lineage_processors.ops.health import (
    Check,
    KafkaProbe,
    Readiness,
    WriteFailures,
    check,
    readiness,
    store_probe,
    writes_check,
)
from lineage_processors.store.connect import Store
from tests.conftest import free_port


def test_ready_when_kafka_and_clickhouse_answer(kafka_bootstrap: str, store: Store) -> None:
    with ThreadPoolExecutor(1) as executor:
        state = asyncio.run(
            readiness(KafkaProbe(kafka_bootstrap, "any-topic"), store_probe(store), executor)
        )
    assert state == Readiness((Check("kafka", True), Check("clickhouse", True)))
    assert state.to_json() == {"status": "ready", "kafka": "ok", "clickhouse": "ok"}


def test_not_ready_names_the_component_that_does_not_answer(store: Store) -> None:
    nobody = KafkaProbe(f"127.0.0.1:{free_port()}", "any-topic")
    with ThreadPoolExecutor(1) as executor:
        state = asyncio.run(readiness(lambda: nobody(timeout=1), store_probe(store), executor))
    assert not state.ready
    kafka, clickhouse = state.checks
    assert (kafka.component, kafka.ok) == ("kafka", False)
    assert kafka.detail.startswith("Kafka did not answer"), kafka.detail
    assert clickhouse.ok
    assert state.to_json()["status"] == "not ready"


def test_a_closed_store_is_not_ready(store: Store) -> None:
    store.close()
    with ThreadPoolExecutor(1) as executor:
        result = asyncio.run(check("clickhouse", store_probe(store), executor))
    assert not result.ok and result.component == "clickhouse"


def test_a_probe_that_hangs_times_out() -> None:
    def hang() -> None:
        import time

        time.sleep(3)

    with ThreadPoolExecutor(1) as executor:
        result = asyncio.run(check("clickhouse", hang, executor, timeout=0.2))
    assert result == Check("clickhouse", False, "no answer within 0.2s")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_run_of_write_failures_dates_from_its_first_failure_until_a_success() -> None:
    clock = Clock()
    graph, inferences = WriteFailures(clock), WriteFailures(clock)
    writes = {"lineage.events": graph, "lineage.inferences": inferences}
    assert writes_check(writes, 30) == Check("clickhouse_writes", True)
    graph.failed(StoreError("insert into edges failed: disk full"))
    clock.now += 20
    graph.failed(StoreError("insert into edges failed: too many parts"))
    inferences.failed(StoreError("insert into inferences failed: disk full"))
    clock.now += 10.5
    assert (graph.seconds(), inferences.seconds()) == (30.5, 10.5)
    # The longest run names the cause: topic, how long, the setting, the last error.
    assert writes_check(writes, 30) == Check(
        "clickhouse_writes",
        False,
        "writes of lineage.events failing for 30s, over LINEAGE_READY_WRITE_FAILURE_SECONDS=30; "
        "retried, nothing committed: insert into edges failed: too many parts",
    )
    assert writes_check(writes, 31) == Check("clickhouse_writes", True)
    graph.succeeded()
    clock.now += 60
    assert writes_check(writes, 30).detail.startswith("writes of lineage.inferences failing")
    inferences.succeeded()
    assert writes_check(writes, 30).ok and graph.seconds() == 0.0


def test_writes_failing_too_long_make_a_worker_not_ready(store: Store) -> None:
    clock = Clock()
    failures = WriteFailures(clock)
    failures.failed(StoreError("insert into edges failed"))
    clock.now += 45
    with ThreadPoolExecutor(1) as executor:
        state = asyncio.run(
            readiness(
                lambda: None, store_probe(store), executor, (writes_check({"t": failures}, 30),)
            )
        )
    assert not state.ready
    assert state.to_json() == {
        "status": "not ready",
        "kafka": "ok",
        "clickhouse": "ok",
        "clickhouse_writes": "writes of t failing for 45s, over "
        "LINEAGE_READY_WRITE_FAILURE_SECONDS=30; retried, nothing committed: "
        "insert into edges failed",
    }
