"""Consumer lag measured from a real Kafka: exact records behind and age of the oldest; a
Kafka that does not answer, or not in time, is a LagError the worker's timer counts."""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lineage_processors.ops.lag import LagError, LagMonitor, PartitionLag, partition_lag, position
from lineage_processors.ops.metrics import WorkerMetrics
from lineage_processors.ops.observability import install
from lineage_processors.settings import WorkerSettings
from lineage_processors.store.connect import Store
from tests.conftest import free_port

T0_MS = 1_780_000_000_000  # record timestamps, set by the producer


def test_position_and_partition_lag_are_pure() -> None:
    assert position(committed=-1001, start=4) == 4  # no committed offset: from the start
    assert position(committed=2, start=4) == 4  # retention deleted past it
    assert position(committed=7, start=4) == 7
    assert partition_lag(("t", 0), 10, 0, 7, T0_MS, T0_MS / 1000 + 2.5) == PartitionLag(
        "t", 0, 3, 2.5
    )
    assert partition_lag(("t", 0), 10, 0, 10, T0_MS, 1e12) == PartitionLag("t", 0, 0, 0.0)
    unknown = partition_lag(("t", 0), 10, 0, 3, None, 1e12)
    assert unknown.records == 7 and math.isnan(unknown.seconds)


def commit(settings: WorkerSettings, topic: str, offsets: dict[int, int]) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": settings.consumer_group,
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
        )
    finally:
        consumer.close()


def test_lag_of_a_group_from_offsets_and_record_timestamps(settings: WorkerSettings) -> None:
    topic = settings.topic_events
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    for f in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        f.result(30)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for i in range(5):
        producer.produce(topic, b"x", partition=0, timestamp=T0_MS + 1000 * i)
    for i in range(3):
        producer.produce(topic, b"y", partition=1, timestamp=T0_MS + 500 * i)
    assert producer.flush(30) == 0
    commit(settings, topic, {0: 2})  # partition 1: nothing committed yet

    # The other topics of the worker do not exist yet: nothing to be behind on there.
    monitor = LagMonitor(
        settings.kafka_bootstrap,
        settings.consumer_group,
        [topic, settings.topic_inferences],
    )
    try:
        now = T0_MS / 1000 + 60
        assert monitor.measure(now) == [
            PartitionLag(topic, 0, 3, 58.0),  # the record at offset 2 is 2 s after T0
            PartitionLag(topic, 1, 3, 60.0),  # from the first record
        ]
        # Read again from the cache: same answer, no record fetched.
        assert monitor.measure(now + 1)[0] == PartitionLag(topic, 0, 3, 59.0)
        commit(settings, topic, {0: 5, 1: 3})
        assert monitor.measure(now) == [
            PartitionLag(topic, 0, 0, 0.0),
            PartitionLag(topic, 1, 0, 0.0),
        ]
    finally:
        monitor.close()


class Unanswered:
    """An admin client whose group-offsets request Kafka never answers; the rest as is."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin

    def __getattr__(self, name: str) -> Any:
        return getattr(self.admin, name)

    def list_consumer_group_offsets(self, requests: list[Any], **kwargs: Any) -> dict[Any, Any]:
        return {r.group_id: concurrent.futures.Future() for r in requests}


def test_an_answer_kafka_does_not_give_in_time_is_a_lag_error_and_new_clients_follow(
    settings: WorkerSettings,
) -> None:
    """Pass: a request whose future never completes (a client that lost its broker to a
    restart) ends the measurement with LagError, caused by the TimeoutError, within the
    monitor's timeout; the next measurement, on new clients, answers."""
    topic = settings.topic_events
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(30)
    monitor = LagMonitor(settings.kafka_bootstrap, settings.consumer_group, [topic], timeout=1.0)
    monitor.admin = Unanswered(monitor.admin)  # type: ignore[assignment]
    try:
        started = time.monotonic()
        with pytest.raises(LagError, match="not measured: TimeoutError") as caught:
            monitor.measure()
        assert isinstance(caught.value.__cause__, concurrent.futures.TimeoutError)
        assert time.monotonic() - started < 10
        assert not isinstance(monitor.admin, Unanswered)
        assert monitor.measure() == [PartitionLag(topic, 0, 0, 0.0)]
    finally:
        monitor.close()


def test_no_broker_to_ask_is_a_lag_error() -> None:
    monitor = LagMonitor(f"127.0.0.1:{free_port()}", "g", ["t"], timeout=1.0)
    try:
        with pytest.raises(LagError, match="lag of group g not measured") as caught:
            monitor.measure()
        assert isinstance(caught.value.__cause__, KafkaException)
    finally:
        monitor.close()


class App:
    """What the observability wiring asks of a faust app: pages and timers, recorded."""

    def __init__(self) -> None:
        self.timers: dict[str, Callable[[], Awaitable[None]]] = {}

    def page(self, path: str) -> Callable[[Any], Any]:
        return lambda view: view

    def timer(self, interval: float, name: str) -> Callable[[Any], Any]:
        def register(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
            self.timers[name] = fn
            return fn

        return register


def test_the_lag_timer_counts_a_failed_measurement_and_ends_quietly(
    settings: WorkerSettings, store: Store
) -> None:
    """Pass: with no broker to ask, a tick of the worker's lag timer ends quietly, counted
    once as a Kafka error of the lag and once as a failure of the lag task; no lag is set."""
    metrics = WorkerMetrics.fresh()
    app = App()
    nobody = f"127.0.0.1:{free_port()}"
    with ThreadPoolExecutor(1) as executor:
        install(app, settings.replace(lag_interval=0.5), store, executor, nobody, metrics)
    sample = metrics.registry.get_sample_value
    assert sample("lineage_background_errors_total", {"task": "lag"}) == 0
    asyncio.run(app.timers["lag"]())  # returns: the timer's next tick comes as usual
    assert sample("lineage_background_errors_total", {"task": "lag"}) == 1
    assert sample("lineage_kafka_errors_total", {"operation": "lag"}) == 1
    assert sample("lineage_consumer_lag_measured_timestamp_seconds") == 0
