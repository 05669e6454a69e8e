"""The batch consumer through rebalances, on real Kafka: it never waits for itself, and every
record is handed on. And the worker's consumers side by side: one that fails stops them all,
and a stop gives the batches in hand their grace, no more.

A worker's three consumers share one group, so each of them joining or leaving rebalances
the others. aiokafka's reads wait while a rebalance is in progress; a consumer whose rebalance
listener waited for the batch being read waited for ever.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from lineage_processors.ingest.processor import Record
from lineage_processors.worker.consumer import BatchConsumer, Consumers

RECORDS = 3000


class Handler:
    """Keeps what it is handed; storing takes a little while, as a real insert does."""

    def __init__(self) -> None:
        self.stored: list[tuple[int, int]] = []

    def prepare(self, records: Sequence[Record]) -> list[tuple[int, int]]:
        return [(r.partition, r.offset) for r in records]

    async def store(self, prepared: list[tuple[int, int]]) -> None:
        await asyncio.sleep(0.05)
        self.stored.extend(prepared)


def test_rebalances_while_reading_neither_stall_nor_lose_records(kafka_bootstrap: str) -> None:
    tag = uuid.uuid4().hex[:8]
    topic, other, group = f"r{tag}.a", f"r{tag}.b", f"g{tag}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for done in admin.create_topics([NewTopic(t, 2, 1) for t in (topic, other)]).values():
        done.result()

    async def scenario() -> Handler:
        handler = Handler()
        consumer: BatchConsumer[list[tuple[int, int]]] = BatchConsumer(
            topic=topic,
            bootstrap=kafka_bootstrap,
            group=group,
            handler=handler,
            on_assigned=lambda partitions: None,
            max_records=200,
            max_wait=0.1,
        )
        running = asyncio.ensure_future(consumer.run())
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5})
        for i in range(RECORDS):
            producer.produce(topic, str(i).encode(), partition=i % 2)
            if i % 300 == 0:
                producer.flush(10)
                # Another member of the group comes and goes: two rebalances each time.
                joiner = AIOKafkaConsumer(other, bootstrap_servers=kafka_bootstrap, group_id=group)
                await joiner.start()
                await asyncio.sleep(0.3)
                await joiner.stop()
        producer.flush(10)
        for _ in range(600):  # 60 s at most: a stalled consumer fails the test
            if len(set(handler.stored)) == RECORDS:
                break
            await asyncio.sleep(0.1)
        consumer.stop()
        await asyncio.wait_for(running, 30)
        return handler

    handler = asyncio.run(scenario())
    # Every record handed on; none twice within what was committed in order.
    assert set(handler.stored) == {(i % 2, i // 2) for i in range(RECORDS)}


class Stand:
    """A consumer stand-in: reads until stopped, then takes ``finish`` seconds to store the
    batch in hand; or fails at once."""

    def __init__(self, topic: str, finish: float = 0.0, fail: bool = False) -> None:
        self.topic = topic
        self.finish = finish
        self.fail = fail
        self.stopping = asyncio.Event()
        self.finished = self.cancelled = False

    async def run(self) -> None:
        if self.fail:
            raise RuntimeError(f"{self.topic}: the DLQ refused")
        await self.stopping.wait()
        try:
            await asyncio.sleep(self.finish)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        self.finished = True

    def stop(self) -> None:
        self.stopping.set()


def test_a_consumer_that_fails_stops_the_others() -> None:
    async def scenario() -> list[Any]:
        stands = [Stand("a"), Stand("b", fail=True), Stand("c")]
        with pytest.raises(RuntimeError, match="b: the DLQ refused"):
            await Consumers(stands, grace=5.0).run()
        return stands

    a, _, c = asyncio.run(scenario())
    assert a.finished and c.finished


def test_a_stop_gives_the_batches_in_hand_their_grace_and_no_more() -> None:
    async def scenario() -> list[Any]:
        stands = [Stand("quick"), Stand("slow", finish=30.0)]
        running = asyncio.ensure_future(Consumers(stands, grace=0.2).run())
        await asyncio.sleep(0.05)
        running.cancel()  # the worker stops
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(running, 5.0)
        return stands

    quick, slow = asyncio.run(scenario())
    assert quick.finished and not quick.cancelled
    assert slow.cancelled and not slow.finished
