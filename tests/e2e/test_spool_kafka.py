"""The producer against a real broker that goes away and comes back: nothing lost, nothing twice.

These tests stop and start a broker of their own (the session broker other tests use is left
alone); it keeps its ports across restarts, so producers find it again at the same address.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from lineage_collector.delivery import EventProducer
from lineage_collector.errors import SpoolFullError
from lineage_processors.local.kafka import LocalKafka
from tests.conftest import broker_up

pytestmark = pytest.mark.kafka
KEY = b"model:intent-classifier@3.4.2"


def new_topic(bootstrap: str) -> str:
    """A fresh one-partition topic: one partition has one order to check."""
    topic = f"spool-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    return topic


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 60) -> list[bytes]:
    """Every value of ``topic`` from the beginning; waits a little past ``expected`` for
    duplicates to show up."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if settle_until is None and len(values) >= expected:
                settle_until = time.monotonic() + 1.0
            if settle_until is not None and time.monotonic() >= settle_until:
                break
            for message in consumer.consume(10_000, 0.5):
                assert message.error() is None, message.error()
                values.append(message.value() or b"")
    finally:
        consumer.close()
    return values


def numbered(prefix: bytes, count: int, start: int = 0) -> list[bytes]:
    return [b"%s-%07d" % (prefix, i) for i in range(start, start + count)]


def test_a_broker_restart_mid_stream_loses_and_repeats_nothing(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    bootstrap = broker_up(own_kafka)
    topic = new_topic(bootstrap)
    producer = EventProducer(bootstrap, spool_dir=tmp_path / "spool")
    sent: list[bytes] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def emit() -> None:
        # A steady stream, ~20,000 events/s, from before the stop until after the restart.
        try:
            while not stop.is_set():
                for value in numbered(b"e", 200, len(sent)):
                    producer.send(topic, KEY, value)
                    sent.append(value)
                time.sleep(0.01)
        except BaseException as exc:
            failures.append(exc)

    emitter = threading.Thread(target=emit)
    emitter.start()
    try:
        time.sleep(1.0)
        own_kafka.down()
        stopped_at = len(sent)
        time.sleep(2.0)  # Kafka is gone: these events can only go to the spool
        assert len(sent) > stopped_at
        assert producer.spooled > 0
        assert list((tmp_path / "spool").glob("slot-*/*.seg"))
        broker_up(own_kafka)
        time.sleep(1.0)
    finally:
        stop.set()
        emitter.join()
    assert failures == []

    assert producer.flush(60) == 0
    assert producer.failed == 0
    assert producer.replayed == producer.spooled > 0
    assert producer.delivered == len(sent)
    producer.close()
    assert list((tmp_path / "spool").glob("slot-*/*.seg")) == []  # all acknowledged, all gone

    received = consume_all(bootstrap, topic, len(sent))
    assert len(received) == len(sent)
    assert received == sent  # every event once, in the order sent


def test_events_from_before_kafka_exists_arrive_once_it_does(
    own_kafka: LocalKafka, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bootstrap = broker_up(own_kafka)
    topic = new_topic(bootstrap)
    own_kafka.down()  # the address stays the broker's: nothing listens there for now
    spool_dir = tmp_path / "spool"

    # A producer that gives up while Kafka is still away: its events stay on disk.
    first = EventProducer(bootstrap, spool_dir=spool_dir)
    first_values = numbered(b"a", 3000)
    for value in first_values:
        first.send(topic, b"a", value)
    with caplog.at_level(logging.WARNING, logger="lineage_collector.delivery.producer"):
        first.close(timeout=1.0)  # no exception: the events are safe in the spool
    assert f"3000 lineage events wait in the spool folder {spool_dir}" in caplog.text
    assert first.delivered == 0 and first.failed == 0

    # The next one, in the same folder, also starts with no broker to talk to.
    second = EventProducer(bootstrap, spool_dir=spool_dir)
    second_values = numbered(b"b", 2000)
    sent = 0
    deadline = time.monotonic() + 10
    # The first events go to librdkafka, until it reports that no broker answers.
    while second.spooled == 0 and time.monotonic() < deadline:
        second.send(topic, b"b", second_values[sent])
        sent += 1
        time.sleep(0.001)
    assert second.spooled == 1
    for value in second_values[sent:]:
        second.send(topic, b"b", value)
    assert second.spooled == len(second_values) - sent + 1  # from then on, all to disk
    assert second.flush(0.5) > 0  # nothing can be delivered yet

    broker_up(own_kafka)
    assert second.flush(60) == 0
    assert second.failed == 0
    second.close()

    received = consume_all(bootstrap, topic, len(first_values) + len(second_values))
    # Each producer's events arrive once and in its own order; the left-over ones too.
    assert [v for v in received if v.startswith(b"a-")] == first_values
    assert [v for v in received if v.startswith(b"b-")] == second_values
    assert len(received) == len(first_values) + len(second_values)


def test_a_flood_while_the_broker_is_paused_goes_to_disk_and_arrives(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    bootstrap = broker_up(own_kafka)
    topic = new_topic(bootstrap)
    pid = own_kafka.status().pid
    assert pid is not None
    # A small queue fills within a second of the pause, as a big one would under a real flood.
    producer = EventProducer(
        bootstrap, {"queue.buffering.max.messages": 20_000}, spool_dir=tmp_path / "spool"
    )
    values = numbered(b"f", 120_000)
    for value in values[:10_000]:
        producer.send(topic, KEY, value)
    os.kill(pid, signal.SIGSTOP)  # connections stay open; nothing answers
    try:
        slowest = 0.0
        for i, value in enumerate(values[10_000:]):
            before = time.perf_counter()
            producer.send(topic, KEY, value)
            slowest = max(slowest, time.perf_counter() - before)
            if i % 100 == 0:
                time.sleep(0.004)  # ~25,000 events/s: the flood outlasts the stall detection
        assert producer.spooled > 50_000
        assert slowest < 2.0  # a send waits for a stalled Kafka a second at most
    finally:
        os.kill(pid, signal.SIGCONT)

    assert producer.flush(60) == 0
    assert (producer.failed, producer.replayed) == (0, producer.spooled)
    producer.close()
    assert consume_all(bootstrap, topic, len(values)) == values


def test_a_full_spool_refuses_events_with_what_to_do(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    # Nothing listens on port 9: every event after the first few goes to the spool.
    producer = EventProducer("127.0.0.1:9", spool_dir=spool_dir, spool_max_bytes=64 << 10)
    deadline = time.monotonic() + 10
    with pytest.raises(SpoolFullError) as refused:
        while time.monotonic() < deadline:
            producer.send("lineage.events", KEY, b"x" * 1000)
            time.sleep(0.0005)
    message = str(refused.value)
    assert str(spool_dir) in message and "LINEAGE_SPOOL_MAX_BYTES" in message
    assert 50 < producer.spooled < 70
    producer.close(timeout=1.0)  # what was accepted stays on disk: no error
    assert producer.failed == 0
