"""The batch consumer through rebalances, on real Kafka: it never waits for itself, and every
record is handed on.

A worker's three consumers share one group, so each of them joining or leaving rebalances
the others. aiokafka's reads wait while a rebalance is in progress; a consumer whose rebalance
listener waited for the batch being read waited for ever.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from lineage_processors.ingest.processor import Record
from lineage_processors.worker.consumer import BatchConsumer

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
