"""Consumer lag measured from a real Kafka: exact records behind and age of the oldest."""

from __future__ import annotations

import math

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from collector.config import Settings
from processors.lag import LagMonitor, PartitionLag, partition_lag, position

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


def commit(settings: Settings, topic: str, offsets: dict[int, int]) -> None:
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


def test_lag_of_a_group_from_offsets_and_record_timestamps(settings: Settings) -> None:
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
