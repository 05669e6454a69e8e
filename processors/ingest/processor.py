"""The ingest processor: a batch of Kafka records in, lineage rows in ClickHouse out, exactly once.

It knows nothing of Kafka clients: the consumers in :mod:`lineage_processors.worker.consumer`
hand it batches of :class:`Record` (it is their ``BatchHandler``) and commit a batch's offsets
only after :meth:`IngestProcessor.store` returned, so an offset is committed only once its
rows are stored (or its record is safe in the DLQ). What an earlier run stored already is left
out (:mod:`lineage_processors.ingest.recovery`).

Records become rows along one of two paths, held equal by tests:

- the **reference path** (:class:`ReferencePath`, built by
  :mod:`lineage_processors.ingest.reference.path`): each record decoded and mapped in Python.
  It takes any record, and sets the bad ones aside for the DLQ with the reason.
- a **fast path** (:class:`FastPath`, built by :mod:`lineage_processors.ingest.fast.paths`):
  records ClickHouse decodes and maps itself, with no Python object per event. It takes what
  it can of a batch.

A processor takes its fast path, when it has one, for what that path takes of each batch, and
the reference path for the rest; a batch the fast path cannot finish goes the reference path
whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from lineage_processors.errors import StoreError
from lineage_processors.ingest.recovery import Partition, Recovery
from lineage_processors.ingest.reference.mapping import TABLES, RowBatch
from lineage_processors.ingest.store_thread import StoreThread
from lineage_processors.ops.health import WriteFailures
from lineage_processors.ops.metrics import BatchReport, WorkerMetrics, batch_report, event_kinds
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import ClickHouseSink

log = logging.getLogger(__name__)


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

Bounds = dict[Partition, int]

# Told, on the store thread, which offsets of which partitions a batch stored: what the
# derived state (lineage_processors.derive.state) is brought up to date with.
StoredHook = Callable[[Bounds, Bounds], None]

DEAD_LETTERS = list(TABLES).index("dead_letters")


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


class ReferencePath(Protocol):
    """The reference path: maps any record to rows in Python."""

    def map(self, records: Sequence[Record]) -> tuple[RowBatch, list[Rejected]]:
        """Rows of ``records``, the dead letters' rows among them, and the records refused."""
        ...


@dataclass
class FastPart:
    """What a fast path took of a batch, ready for ClickHouse to decode."""

    what: str  # what the records hold, for the log: "graph events", "predictions"
    records: Sequence[Record]
    events: int  # events in them (a record of predictions holds many)
    consumed: dict[str, int]  # events by kind, for the metrics
    oldest_ms: int | None  # event time of the oldest, epoch milliseconds
    insert: Callable[[Store], bool]  # on the store thread: False if it must not be written

    def count(self, report: BatchReport, records: int) -> None:
        """Add this part to ``report`` of the reference path's part of a ``records`` batch."""
        report.records = records
        report.events += self.events
        for kind, n in self.consumed.items():
            report.consumed[kind] = report.consumed.get(kind, 0) + n
        if self.oldest_ms is not None and (
            report.oldest_event_ms is None or self.oldest_ms < report.oldest_event_ms
        ):
            report.oldest_event_ms = self.oldest_ms


class FastPath(Protocol):
    """A fast path: takes what ClickHouse can decode of a batch."""

    def take(self, records: Sequence[Record]) -> tuple[FastPart, Sequence[Record]] | None:
        """The part of ``records`` it takes and the records it leaves to the reference path,
        or None if it takes none."""
        ...


@dataclass
class Mapped:
    """The reference path's part of a batch: its rows, and the records refused."""

    batch: RowBatch
    rejected: list[Rejected]
    firsts: Bounds  # of the whole batch: recovery and commits follow every record read
    lasts: Bounds
    report: BatchReport | None = None  # counted once its offsets are committed


@dataclass
class Prepared:
    """A batch made ready to store: what the fast path took, and the rest mapped."""

    records: Sequence[Record]
    rest: Mapped
    fast: FastPart | None = None


class IngestProcessor:
    """Prepares and stores the batches of one topic, by its fast path where it has one and
    can, else by its reference path. A ``BatchHandler`` of ``Prepared`` batches."""

    def __init__(
        self,
        reference: ReferencePath,
        sink: ClickHouseSink,
        executor: Executor,
        dead_letters: DeadLetterWriter,
        *,
        fast: FastPath | None = None,
        on_stored: StoredHook | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.reference = reference
        self.fast = fast
        self.sink = sink
        self.thread = StoreThread(executor, metrics)
        self.dead_letters = dead_letters
        self.on_stored = on_stored
        self.metrics = metrics
        self.recovery = Recovery()
        self.written = 0
        self.rejected = 0
        self.fallbacks = 0  # batches the fast path was to store that went the reference path

    @property
    def write_failures(self) -> WriteFailures:
        """Failed writes of this topic, what readiness reads."""
        return self.thread.write_failures

    def forget(self, partitions: Sequence[Partition]) -> None:
        """``partitions`` were just assigned to us: check the store before writing them."""
        self.recovery.forget(partitions)

    def prepare(self, records: Sequence[Record]) -> Prepared:
        """Split and map a batch; no store access, so it may run beside a store."""
        taken = self.fast.take(records) if self.fast is not None else None
        if taken is None:
            return Prepared(records, self._map(records, records))
        part, rest = taken
        mapped = self._map(records, rest)
        if mapped.report is not None:
            part.count(mapped.report, len(records))
        return Prepared(records, mapped, part)

    async def store(self, prepared: Prepared) -> None:
        """Store a prepared batch. Returns only when every record is stored or dead-lettered.

        A store that refuses is retried with backoff until it takes the batch; a DLQ that
        refuses raises, and the caller must then not commit, so the batch is read again.
        """
        part, fast_seconds = prepared.fast, None
        if part is not None:
            fast_seconds = await self._insert_fast(part, prepared.rest.firsts)
            if fast_seconds is None:
                # The store must be asked what it holds of these partitions first, an event
                # would be refused, or ClickHouse refused the records: the whole batch the
                # reference way, which leaves out what is stored and dead-letters what is bad.
                loop = asyncio.get_running_loop()
                records = prepared.records
                prepared.rest = await loop.run_in_executor(None, self._map, records, records)
                prepared.fast = part = None
        await self._store_rest(prepared.rest, part, fast_seconds)

    def committed(self, prepared: Prepared) -> None:
        """The batch's offsets are committed: count it."""
        if self.metrics is not None and prepared.rest.report is not None:
            self.metrics.batch_done(prepared.rest.report)

    def _map(self, records: Sequence[Record], rest: Sequence[Record]) -> Mapped:
        """The reference path's part of a batch of ``records``: ``rest``, mapped."""
        batch, rejected = self.reference.map(rest) if rest else (RowBatch(), [])
        # Counted here, on the consumer's own thread, once per batch.
        report = (
            batch_report(records[0].topic, len(rest), batch, (b.stage for b in rejected))
            if self.metrics is not None
            else None
        )
        return Mapped(batch, rejected, *partition_bounds(records), report)

    async def _insert_fast(self, part: FastPart, firsts: Bounds) -> float | None:
        """Have ClickHouse decode and store ``part``; the seconds its insert took, or None if
        the batch must go the reference way instead."""
        if not await self.thread.until_stored(self.recovery.clear, self.sink.store, firsts):
            return None
        started = time.perf_counter()
        try:
            if await self.thread.once(part.insert, self.sink.store):
                return time.perf_counter() - started
        except StoreError as exc:
            # Bad bytes inside a record, or a store that is down (the reference path then
            # retries it with backoff). Either way ClickHouse may have taken part of the
            # insert: have recovery ask the store before anything of these is written.
            log.warning("%s not decoded by the store, mapping them instead: %s", part.what, exc)
            self.recovery.forget(sorted({(r.topic, r.partition) for r in part.records}))
        self.fallbacks += 1
        return None

    async def _store_rest(
        self, mapped: Mapped, part: FastPart | None, fast_seconds: float | None
    ) -> None:
        """Store the reference path's rows of a batch whose fast ``part`` (if any) ClickHouse
        stored in ``fast_seconds``, send its dead letters, and mark the batch stored."""
        batch, rejected, report = mapped.batch, mapped.rejected, mapped.report
        kept = batch
        if batch.sources:
            kept = await self.thread.until_stored(
                self.recovery.filter, self.sink.store, batch, mapped.firsts
            )
        await self._send_dead_letters(kept, rejected, report)
        write_seconds = fast_seconds
        if len(kept.sources):
            started = time.perf_counter()
            await self.thread.until_stored(self.sink.write, kept)
            write_seconds = (write_seconds or 0.0) + time.perf_counter() - started
        if report is not None:
            report.write_seconds = write_seconds
            whole = (len(kept.events_raw), len(kept.inferences)) == (
                len(batch.events_raw),
                len(batch.inferences),
            )
            report.written = report.consumed if whole else event_kinds(kept)
            if part is not None and not whole:
                # Recovery left out some of the reference path's part: the fast part is
                # stored whole all the same.
                for kind, n in part.consumed.items():
                    report.written[kind] = report.written.get(kind, 0) + n
        if self.on_stored is not None:
            # The whole batch, not what recovery left to write: records an earlier run
            # stored may not have had their derived state brought up to date.
            await self.thread.until_stored(self.on_stored, mapped.firsts, mapped.lasts)
        self.recovery.advance(mapped.lasts)
        self.written += len(batch) + (part.events if part is not None else 0)
        self.rejected += len(rejected)

    async def _send_dead_letters(
        self, kept: RowBatch, rejected: list[Rejected], report: BatchReport | None
    ) -> None:
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
            if report is not None:
                report.dead_lettered[bad.stage] = report.dead_lettered.get(bad.stage, 0) + 1
