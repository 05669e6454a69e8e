"""The reference path: each record decoded and mapped to rows in Python.

Readable first: the fast paths (:mod:`lineage_processors.ingest.fast`) are held equal to it by
tests, and it takes every record they cannot. What a record's bytes are is the business of its
:data:`RecordMapper`: Avro events of our own (:func:`avro_mapper`, mapped by
:mod:`lineage_processors.ingest.reference.events`) or OpenLineage JSON
(:func:`openlineage_mapper`). A record that cannot be mapped is set aside with the stage that
refused it, and gets a row in ``dead_letters``; the processor sends it to the DLQ.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from lineage_collector.catalog import SchemaCatalog
from lineage_collector.errors import DecodeError
from lineage_collector.registry import SchemaRegistryClient
from lineage_collector.wire import Decoder, TransientDecodeError
from lineage_processors.errors import RecordTooLargeError
from lineage_processors.ingest.openlineage.mapping import map_openlineage
from lineage_processors.ingest.processor import Record, Rejected
from lineage_processors.ingest.reference.events import map_event
from lineage_processors.ingest.reference.mapping import MappingError, Origin, RowBatch

log = logging.getLogger(__name__)

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


class ReferenceMapping:
    """The reference path of one topic, whose records ``mapper`` turns into rows; a
    :class:`~lineage_processors.ingest.processor.ReferencePath`."""

    def __init__(self, mapper: RecordMapper, max_bytes: int = 0) -> None:
        self.mapper = mapper
        self.max_bytes = max_bytes

    def map(self, records: Sequence[Record]) -> tuple[RowBatch, list[Rejected]]:
        """Rows of ``records``, a ``dead_letters`` row for each record refused, and those."""
        batch, rejected = map_records(self.mapper, records, self.max_bytes)
        for bad in rejected:
            r = bad.record
            batch.extend(dead_letter_rows(bad), Origin(r.topic, r.partition, r.offset))
        return batch, rejected
