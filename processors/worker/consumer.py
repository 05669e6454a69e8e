"""Read a topic in large batches and commit each batch's offsets only once it is stored.

faust's streams hand records over one at a time through queues, events and per-message
acknowledgements; measured on this project's graph events that path stops near 5,000
records/s while the same aiokafka client under it fetches several hundred thousand. So the
worker's hot path reads with aiokafka's ``getmany`` directly: one call returns thousands of
records, the batch goes to the store, and the offsets after it are committed explicitly.
The faust app around it still owns the process: its lifecycle, web server and producer.

Two batches are in flight at a time: while one is being stored, the next is fetched and
decoded on a thread of its own. Decoding is Python, the insert mostly ClickHouse's C++, so
the two overlap and the store is kept busy. Batches are still stored and committed strictly
in the order they were read.

A worker runs one consumer per topic, side by side (:class:`Consumers`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from lineage_processors.ingest.processor import Record
from lineage_processors.worker.stopping import BATCH_GRACE_SECONDS

log = logging.getLogger(__name__)

P = TypeVar("P")

# Longest a stopping consumer waits for Kafka to take its leave of the group.
LEAVE_SECONDS = 2.0


class BatchHandler(Protocol, Generic[P]):
    """What a consumer hands its batches to, in two steps.

    ``prepare`` turns records into something storable; it runs on the consumer's own
    thread, may take its time, and must not touch the store. ``store`` writes a prepared
    batch and returns only when it is safely stored; it is called in read order, one batch
    at a time.
    """

    def prepare(self, records: Sequence[Record]) -> P: ...

    def store(self, prepared: P) -> Awaitable[None]: ...


# Told which partitions were just assigned, so it can check the store before writing them.
AssignHandler = Callable[[Sequence[tuple[str, int]]], None]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hold a rebalance until every batch handed on is stored and committed.

    Not the batch still being read: aiokafka's reads wait for a rebalance to end, so waiting
    for it here would wait for ever. What it had read is dropped when the rebalance is over
    (see ``_collect``) and read again from the committed offsets.
    """

    def __init__(self, consumer: BatchConsumer[Any]) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.consumer.rebalancing = True
        try:
            await self.consumer.idle.wait()
        finally:
            self.consumer.rebalancing = False

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.consumer.generation += 1
        self.consumer.on_assigned([(tp.topic, tp.partition) for tp in assigned])


class BatchConsumer(Generic[P]):
    """One topic, one consumer in the worker's group, batches of up to ``max_records``.

    A batch closes when it holds ``max_records`` records or ``max_wait`` seconds after its
    first record arrived, whichever is first: big batches under load, short waits when
    traffic is light.
    """

    def __init__(
        self,
        *,
        topic: str,
        bootstrap: str,
        group: str,
        handler: BatchHandler[P],
        on_assigned: AssignHandler,
        max_records: int,
        max_wait: float,
        client_id: str = "lineage-worker",
        on_stored: Callable[[], None] | None = None,
        client_options: Mapping[str, Any] | None = None,
        on_committed: Callable[[P], None] | None = None,
    ) -> None:
        self.topic = topic
        self.client_options = dict(client_options or {})  # security: TLS, SASL
        self.bootstrap = bootstrap
        self.group = group
        self.handler = handler
        self.on_assigned = on_assigned
        self.max_records = max_records
        self.max_wait = max_wait
        self.client_id = client_id
        self.on_stored = on_stored  # between the store and the commit: fault injection
        self.on_committed = on_committed  # after the commit: metrics, once per batch
        self.rebalancing = False  # a rebalance waits until nothing is in flight
        self.generation = 0  # rebalances so far: records read before one are read again
        self.in_flight = 0  # batches being prepared or stored
        self.idle = asyncio.Event()
        self.idle.set()
        self.stopping = asyncio.Event()
        self.consumed = 0
        self.commit_failures = 0

    def stop(self) -> None:
        """Finish the batches in hand, commit them and leave the group."""
        self.stopping.set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Up to 8 MiB a partition per fetch: a fetch then carries thousands of graph
            # events or a few dozen inference batches, and getmany rarely waits on the wire.
            max_partition_fetch_bytes=8 << 20,
            **self.client_options,
        )
        consumer.subscribe([self.topic], listener=_Rebalance(self))
        preparing = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"prepare-{self.topic}")
        loop = asyncio.get_running_loop()
        storing: asyncio.Future[None] | None = None
        await consumer.start()
        try:
            while not self.stopping.is_set():
                records = await self._collect(consumer)
                if records:
                    self._begin()
                try:
                    prepared = (
                        await loop.run_in_executor(preparing, self.handler.prepare, records)
                        if records
                        else None
                    )
                    if storing is not None:
                        # In read order: the previous batch is stored and committed first.
                        await storing
                        storing = None
                except BaseException:
                    if records:
                        self._end()
                    raise
                if prepared is None:
                    if storing is not None and storing.done():
                        await storing  # a failure surfaces now, not with the next batch
                        storing = None
                else:
                    storing = asyncio.ensure_future(
                        self._store_and_commit(consumer, records, prepared)
                    )
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            # Cancelled (a stop that could not wait): so is the batch being stored, wherever
            # this was waiting, and its offsets stay uncommitted.
            if storing is not None:
                storing.cancel()
            raise
        finally:
            try:
                if storing is not None:
                    await storing
            finally:
                # A batch being prepared is not wanted any more: not waited for.
                preparing.shutdown(wait=False, cancel_futures=True)
                await self._leave(consumer)

    async def _leave(self, consumer: AIOKafkaConsumer) -> None:
        # Leaving the group tells the broker at once that our partitions are free; a broker
        # that does not answer gets LEAVE_SECONDS, then the session timeout frees them.
        try:
            await asyncio.wait_for(consumer.stop(), LEAVE_SECONDS)
        except TimeoutError:
            log.warning("%s: Kafka did not see us leave within %gs", self.topic, LEAVE_SECONDS)

    def _begin(self) -> None:
        self.in_flight += 1
        self.idle.clear()

    def _end(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self.idle.set()

    async def _store_and_commit(
        self, consumer: AIOKafkaConsumer, records: Sequence[Record], prepared: P
    ) -> None:
        try:
            await self.handler.store(prepared)
            if self.on_stored is not None:
                self.on_stored()
            await self._commit(consumer, records)
            if self.on_committed is not None:
                self.on_committed(prepared)
        finally:
            self._end()

    async def _collect(self, consumer: AIOKafkaConsumer) -> list[Record]:
        records: list[Record] = []
        deadline = None
        generation = self.generation
        while len(records) < self.max_records and not self.stopping.is_set():
            if self.rebalancing:
                # Let the batches in flight finish; this one starts after the rebalance.
                await asyncio.sleep(0.05)
                return []
            if deadline is None:
                timeout = 0.5  # idle: look up now and then
            else:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
            fetched = await consumer.getmany(
                timeout_ms=int(timeout * 1000), max_records=self.max_records - len(records)
            )
            if self.generation != generation:
                # A rebalance ended while we waited: every partition now reads again from
                # its committed offset, so what this batch held would come twice.
                records, deadline, generation = [], None, self.generation
            for tp, messages in fetched.items():
                records.extend(
                    Record(tp.topic, tp.partition, m.offset, m.key, m.value) for m in messages
                )
            if not records:
                break  # idle: back to the caller, which checks on the batch being stored
            if deadline is None:
                deadline = time.monotonic() + self.max_wait
        self.consumed += len(records)
        return records

    async def _commit(self, consumer: AIOKafkaConsumer, records: Sequence[Record]) -> None:
        # Records of a partition come in offset order: the last one read is the highest.
        last: dict[tuple[str, int], int] = {}
        for r in records:
            last[r.topic, r.partition] = r.offset
        offsets = {TopicPartition(t, p): o + 1 for (t, p), o in last.items()}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The group moved on (a rebalance, or we were too slow): whoever reads these
            # partitions next finds the rows already stored and does not write them again.
            self.commit_failures += 1
            log.warning("offsets of a stored batch not committed (%s); read again later", exc)


class Consumers:
    """The worker's consumers, one per topic, run side by side until the worker stops."""

    def __init__(
        self, consumers: Sequence[BatchConsumer[Any]], grace: float = BATCH_GRACE_SECONDS
    ) -> None:
        self.consumers = list(consumers)
        self.grace = grace

    async def run(self) -> None:
        """Run every consumer; a consumer that fails (the DLQ refused) stops them all and
        raises its error."""
        tasks = [asyncio.ensure_future(c.run()) for c in self.consumers]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a consumer that failed (the DLQ refused) stops the worker
        finally:
            for c in self.consumers:
                c.stop()
            # The batches in hand get the grace to be stored and committed. One that is not
            # by then (a store that refuses writes, a long insert) is cancelled, retries and
            # all: its offsets stay uncommitted, and it is read again at the next start.
            _, late = await asyncio.wait(tasks, timeout=self.grace)
            for task, c in zip(tasks, self.consumers, strict=True):
                if task in late:
                    task.cancel()
                    log.warning(
                        "%s: the batch in hand was not stored within %gs of the stop; left "
                        "uncommitted, it is read again at the next start",
                        c.topic,
                        self.grace,
                    )
            await asyncio.gather(*tasks, return_exceptions=True)
