"""The graph processor: a batch of Kafka records in, lineage rows in ClickHouse out.

It knows nothing of Kafka clients: the consumers in :mod:`lineage_processors.worker.consumer` hand
it batches of :class:`Record` and commit their offsets only after :meth:`GraphProcessor.process`
returned, so an offset is committed only once its rows are stored (or the record is safe in
the DLQ). What an earlier run stored already is left out
(:mod:`lineage_processors.ingest.recovery`). What a record's bytes are is the business of its
:data:`RecordMapper`: Avro events of our own (:func:`avro_mapper`) or OpenLineage JSON
(:func:`openlineage_mapper`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from lineage_collector.catalog import SchemaCatalog
from lineage_collector.errors import DecodeError
from lineage_collector.registry import SchemaRegistryClient
from lineage_collector.wire import Decoder, TransientDecodeError
from lineage_processors.errors import RecordTooLargeError, StoreError
from lineage_processors.ingest.openlineage import map_openlineage
from lineage_processors.ingest.recovery import Partition, Recovery
from lineage_processors.ingest.reference.mapping import (
    TABLES,
    MappingError,
    Origin,
    RowBatch,
    map_event,
)
from lineage_processors.ops.health import WriteFailures
from lineage_processors.ops.metrics import BatchReport, WorkerMetrics, batch_report, event_kinds
from lineage_processors.store.sink import ClickHouseSink

log = logging.getLogger(__name__)

T = TypeVar("T")


class Record(NamedTuple):
    """One Kafka record as read, before decoding.

    A tuple: the consumer makes one per record read, and a tuple costs a third of what a
    frozen dataclass does to build and to free."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Rejected:
    """A record that cannot be processed, with the stage that refused it and why."""

    record: Record
    stage: str
    error: Exception


# Sends one rejected record to the dead-letter topic and waits until Kafka has it.
DeadLetterWriter = Callable[[Rejected], Awaitable[None]]

# Turns one record into rows. Raises DecodeError when the bytes are not a record at all and
# MappingError when the record makes no sense as lineage; either sends it to the DLQ.
RecordMapper = Callable[[Record], RowBatch]


def avro_mapper(
    catalog: SchemaCatalog, registry: SchemaRegistryClient | None = None
) -> RecordMapper:
    """Our own events, in either wire format; ``registry`` resolves Confluent-framed ones."""
    # Timestamps stay epoch milliseconds all the way into ClickHouse: see plain_timestamps.
    decoder = Decoder(catalog, registry, millis=True)

    def map_record(rec: Record) -> RowBatch:
        schema, event = decoder.decode(rec.value)
        return map_event(schema.name, event, Origin(rec.topic, rec.partition, rec.offset))

    return map_record


def openlineage_mapper(rec: Record) -> RowBatch:
    """OpenLineage JSON, as openlineage-python's Kafka transport writes it."""
    return map_openlineage(rec.value, Origin(rec.topic, rec.partition, rec.offset))


def map_records(
    mapper: RecordMapper, records: Sequence[Record], max_bytes: int = 0
) -> tuple[RowBatch, list[Rejected]]:
    """Map every record; bad ones are set aside, never holding up the rest.

    A record over ``max_bytes`` (when set) is refused unread: no producer of ours sends one,
    and decoding it could cost the worker the memory of many.
    """
    batch = RowBatch()
    rejected: list[Rejected] = []
    for rec in records:
        if max_bytes and len(rec.value) > max_bytes:
            error = RecordTooLargeError(
                f"record is {len(rec.value)} bytes, over the limit of {max_bytes} "
                "(LINEAGE_MAX_EVENT_BYTES): split it at the producer, or raise the limit"
            )
            rejected.append(Rejected(rec, "size", error))
            continue
        try:
            batch.extend(mapper(rec), Origin(rec.topic, rec.partition, rec.offset))
        except DecodeError as exc:
            rejected.append(Rejected(rec, "decode", exc))
        except MappingError as exc:
            rejected.append(Rejected(rec, "map", exc))
        except TransientDecodeError:
            raise  # the record may be fine: fail the batch so it is read again later
        except Exception as exc:
            # A record that trips a fault in a mapper must cost that record, not stall its
            # partition by failing the same batch forever.
            log.exception("mapping %s:%d@%d failed", rec.topic, rec.partition, rec.offset)
            rejected.append(Rejected(rec, "map", exc))
    return batch, rejected


def decode_and_map(
    catalog: SchemaCatalog, records: Sequence[Record]
) -> tuple[RowBatch, list[Rejected]]:
    """Decode and map every record of our own events; bad ones are set aside."""
    return map_records(avro_mapper(catalog), records)


# Waits between attempts while the store refuses writes: quick at first, for a blip, then
# no more than RETRY_MAX_SECONDS apart so the worker notices soon when it is back.
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 10.0

Bounds = dict[Partition, int]


DEAD_LETTERS = list(TABLES).index("dead_letters")


def dead_letter_rows(bad: Rejected) -> RowBatch:
    """The ``dead_letters`` row of a rejected record."""
    r = bad.record
    row = (
        bad.stage,
        type(bad.error).__name__,
        str(bad.error)[:1000],
        (r.key or b"").decode("utf-8", "replace"),
        len(r.value),
        int(time.time() * 1000),
    )
    return RowBatch(dead_letters=[row])


def records_token(salt: bytes, records: Sequence[Record]) -> str:
    """Names a batch by its records, like the sink's tokens: a retry of them is dropped."""
    digest = hashlib.blake2b(salt, digest_size=16)
    for r in records:
        digest.update(f"{r.topic}\0{r.partition}\0{r.offset}\n".encode())
    return digest.hexdigest()


def partition_bounds(records: Sequence[Record]) -> tuple[Bounds, Bounds]:
    """First and last offset read from each partition of a batch."""
    firsts: dict[Partition, int] = {}
    lasts: dict[Partition, int] = {}
    for r in records:
        tp = (r.topic, r.partition)
        firsts.setdefault(tp, r.offset)
        lasts[tp] = r.offset
    return firsts, lasts


@dataclass
class Mapped:
    """A batch of records made ready to store: their rows, and the records refused."""

    batch: RowBatch
    rejected: list[Rejected]
    firsts: Bounds
    lasts: Bounds
    report: BatchReport | None = None  # counted once its offsets are committed


# Told, on the store thread, which offsets of which partitions a batch stored: what the
# derived state (lineage_processors.derive.state) is brought up to date with.
StoredHook = Callable[[Bounds, Bounds], None]


class GraphProcessor:
    """Decode, map and store batches of records, each turned into rows by ``mapper``."""

    def __init__(
        self,
        mapper: RecordMapper,
        sink: ClickHouseSink,
        executor: Executor,
        dead_letters: DeadLetterWriter,
        on_stored: StoredHook | None = None,
        max_bytes: int = 0,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.mapper = mapper
        self.max_bytes = max_bytes
        self.sink = sink
        self.executor = executor
        self.dead_letters = dead_letters
        self.on_stored = on_stored
        self.recovery = Recovery()
        self.written = 0
        self.rejected = 0
        self.store_errors = 0
        self.fallbacks = 0  # batches ClickHouse was to decode that went the Python way
        self.metrics = metrics
        self.write_failures = WriteFailures()  # what readiness reads

    def forget(self, partitions: Sequence[Partition]) -> None:
        """``partitions`` were just assigned to us: check the store before writing them."""
        self.recovery.forget(partitions)

    async def process(self, records: Sequence[Record]) -> None:
        """Store one batch: :meth:`prepare` then :meth:`store`."""
        if records:
            await self.store(self.prepare(records))

    def prepare(self, records: Sequence[Record]) -> Mapped:
        """Decode and map a batch; no store access, so it may run beside a store."""
        batch, rejected = map_records(self.mapper, records, self.max_bytes)
        for bad in rejected:
            r = bad.record
            batch.extend(dead_letter_rows(bad), Origin(r.topic, r.partition, r.offset))
        # Counted here, on the consumer's own thread, once per batch.
        report = (
            batch_report(records[0].topic, len(records), batch, (b.stage for b in rejected))
            if self.metrics is not None
            else None
        )
        return Mapped(batch, rejected, *partition_bounds(records), report)

    async def store(self, mapped: Mapped) -> None:
        """Store a mapped batch. Returns only when every record is stored or dead-lettered.

        A store that refuses is retried with backoff until it takes the batch; a DLQ that
        refuses raises, and the caller must then not commit, so the batch is read again.
        """
        batch, rejected = mapped.batch, mapped.rejected
        # The store is blocking (chDB runs in-process): keep it off the event loop so
        # Kafka heartbeats and the web endpoint stay responsive during a long insert.
        kept = await self._until_stored(self.recovery.filter, self.sink.store, batch, mapped.firsts)
        # A dead letter whose row the store holds was sent by an earlier run: not again.
        to_send = {
            (s.origin.topic, s.origin.partition, s.origin.offset)
            for s in kept.sources
            if s.rows[DEAD_LETTERS]
        }
        for bad in rejected:
            r = bad.record
            if (r.topic, r.partition, r.offset) not in to_send:
                continue
            log.warning(
                "record %s:%d@%d rejected at %s: %s",
                r.topic,
                r.partition,
                r.offset,
                bad.stage,
                bad.error,
            )
            await self.dead_letters(bad)
            if mapped.report is not None:
                sent = mapped.report.dead_lettered
                sent[bad.stage] = sent.get(bad.stage, 0) + 1
        if len(kept.sources):
            started = time.perf_counter()
            await self._until_stored(self.sink.write, kept)
            if mapped.report is not None:
                mapped.report.write_seconds = time.perf_counter() - started
        if mapped.report is not None:
            whole = (len(kept.events_raw), len(kept.inferences)) == (
                len(batch.events_raw),
                len(batch.inferences),
            )
            mapped.report.written = mapped.report.consumed if whole else event_kinds(kept)
        if self.on_stored is not None:
            # The whole batch, not what recovery left to write: records an earlier run
            # stored may not have had their derived state brought up to date.
            await self._until_stored(self.on_stored, mapped.firsts, mapped.lasts)
        self.recovery.advance(mapped.lasts)
        self.written += len(batch)
        self.rejected += len(rejected)

    def committed(self, mapped: Mapped) -> None:
        """The batch's offsets are committed: count it."""
        if self.metrics is not None and mapped.report is not None:
            self.metrics.batch_done(mapped.report)

    async def _decoded_by_store(
        self, insert: Callable[[], bool], records: Sequence[Record], what: str
    ) -> bool:
        """Run a subclass's ``insert`` of records ClickHouse decodes, on the store thread.
        False (the batch must go the Python way) if it says so or the store refuses."""
        try:
            if await self._on_store_thread(insert):
                return True
        except StoreError as exc:
            # Bad bytes inside a record, or a store that is down (the Python path then
            # retries it with backoff). Either way ClickHouse may have taken part of the
            # insert: have recovery ask the store before anything of these is written.
            log.warning("%s not decoded by the store, mapping them instead: %s", what, exc)
            self.recovery.forget(sorted({(r.topic, r.partition) for r in records}))
        self.fallbacks += 1
        return False

    async def _on_store_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the store thread once."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def _until_stored(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the store thread until it stops raising StoreError.

        Only a cancellation ends it otherwise: the consumer cancels a batch the worker's
        stop does not leave time to store, and its offsets stay uncommitted."""
        loop = asyncio.get_running_loop()
        wait = RETRY_FIRST_SECONDS
        while True:
            try:
                done = await loop.run_in_executor(self.executor, fn, *args)
                self.write_failures.succeeded()
                return done
            except StoreError as exc:
                self.write_failures.failed(exc)
                self.store_errors += 1
                if self.metrics is not None:
                    self.metrics.store_error("write", retried=True)
                log.warning("store unavailable, retrying in %.1fs: %s", wait, exc)
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_MAX_SECONDS)
