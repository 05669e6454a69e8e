"""The graph processor: a batch of Kafka records in, lineage rows in ClickHouse out.

It knows nothing of faust: the agents in :mod:`processors.worker` hand it batches of
:class:`Record` and acknowledge them only after :meth:`GraphProcessor.process` returned, so an
offset is committed only once its rows are stored (or the record is safe in the DLQ).
What a record's bytes are is the business of its :data:`RecordMapper`: Avro events of our own
(:func:`avro_mapper`) or OpenLineage JSON (:func:`openlineage_mapper`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from collector.catalog import SchemaCatalog
from collector.errors import DecodeError
from collector.registry import SchemaRegistryClient
from collector.wire import Decoder, TransientDecodeError
from processors.mapping import MappingError, Origin, RowBatch, map_event
from processors.openlineage import map_openlineage
from processors.sinks.clickhouse import ClickHouseSink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One Kafka record as read, before decoding."""

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


def dedup_token(records: Sequence[Record]) -> str:
    """Name a batch by the offset range it covers in each partition.

    The same records always give the same token, so ClickHouse recognises a retried insert.
    """
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for r in records:
        lo, hi = ranges.get((r.topic, r.partition), (r.offset, r.offset))
        ranges[(r.topic, r.partition)] = (min(lo, r.offset), max(hi, r.offset))
    return ",".join(f"{t}:{p}:{lo}-{hi}" for (t, p), (lo, hi) in sorted(ranges.items()))


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


def map_records(mapper: RecordMapper, records: Sequence[Record]) -> tuple[RowBatch, list[Rejected]]:
    """Map every record; bad ones are set aside, never holding up the rest."""
    batch = RowBatch()
    rejected: list[Rejected] = []
    for rec in records:
        try:
            batch.extend(mapper(rec))
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


class GraphProcessor:
    """Decode, map and store batches of records, each turned into rows by ``mapper``."""

    def __init__(
        self,
        mapper: RecordMapper,
        sink: ClickHouseSink,
        executor: Executor,
        dead_letters: DeadLetterWriter,
    ) -> None:
        self.mapper = mapper
        self.sink = sink
        self.executor = executor
        self.dead_letters = dead_letters
        self.written = 0
        self.rejected = 0

    async def process(self, records: Sequence[Record]) -> None:
        """Store one batch. Returns only when every record is stored or dead-lettered.

        Raises if either the store or the DLQ failed; the caller must then not acknowledge
        the batch, so it is read again.
        """
        if not records:
            return
        batch, rejected = map_records(self.mapper, records)
        for bad in rejected:
            log.warning(
                "record %s:%d@%d rejected at %s: %s",
                bad.record.topic,
                bad.record.partition,
                bad.record.offset,
                bad.stage,
                bad.error,
            )
            await self.dead_letters(bad)
        if len(batch):
            token = dedup_token(records)
            # The store is blocking (chDB runs in-process): keep it off the event loop so
            # Kafka heartbeats and the web endpoint stay responsive during a long insert.
            await asyncio.get_running_loop().run_in_executor(
                self.executor, self.sink.write, batch, token
            )
        self.written += len(batch)
        self.rejected += len(rejected)
