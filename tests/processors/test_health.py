"""Readiness checks against real components: a real broker and chDB answer, others do not."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from processors.health import Check, KafkaProbe, Readiness, check, readiness, store_probe
from processors.store.connect import Store
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
