"""Predictions decoded by ClickHouse: InferenceBatch records stored without a Python object
per prediction.

The inference topic is the system's volume: thousands of predictions per Kafka record. Read
through fastavro, each prediction becomes a dict, a row tuple and then column values, about
ten microseconds of Python apiece. But the predictions inside a record are already Avro, and
ClickHouse reads Avro itself, in C++ and on every core. So for each record this module reads
only the batch's head (event id, model version, deployment: a few varints), checks it as the
Python mapping would, and puts a small head of its own in front of the untouched array of
predictions: where the record was read, the model and deployment node ids, the event id.
Those records, one Avro container per batch, go to ``inference_batches`` (a Null table) and
a materialised view turns each into its rows of ``inferences`` (migration 10).

Only records in the current InferenceBatch schema, in single-object form, take this path;
records of older releases, registry-framed ones and anything the head check refuses go
through the Python mapping as before, and so to the DLQ when they are bad. So does a whole
batch whose partitions the store must be asked about first (see
:mod:`lineage_processors.ingest.recovery`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lineage_collector.catalog import EventSchema
from lineage_collector.errors import NodeIdError
from lineage_collector.inference_codec import long_bytes, string_bytes
from lineage_collector.wire import SINGLE_OBJECT_HEADER, SINGLE_OBJECT_MAGIC
from lineage_processors.ingest.processor import Record, records_token
from lineage_processors.ingest.reference.events import served_by
from lineage_processors.store.connect import Store

# What the materialised view reads: the fields this module puts in front, then the batch's
# own array of predictions (its schema is the InferenceItem of the current release).
HEAD_FIELDS = (
    ("src_topic", "string"),
    ("src_partition", "int"),
    ("src_offset", "long"),
    ("model_node", "string"),
    ("deployment", "string"),
    ("event_id", "string"),
)


class HeadError(ValueError):
    """A record's head does not read as an InferenceBatch: the Python path decides."""


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """An Avro ``long`` (zig-zag varint) at ``pos``; returns it and the position after."""
    shift = value = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise HeadError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    size, pos = read_long(data, pos)
    end = pos + size
    if size < 0 or end > len(data):
        raise HeadError("string runs past the record")
    try:
        return data[pos:end].decode(), end
    except UnicodeDecodeError:
        raise HeadError("string is not UTF-8") from None


def read_optional(data: bytes, pos: int) -> tuple[str | None, int]:
    branch, pos = read_long(data, pos)
    if branch == 0:
        return None, pos
    if branch != 1:
        raise HeadError(f"union branch {branch} of [null, string]")
    return read_string(data, pos)


@dataclass(frozen=True)
class Head:
    """What the Python mapping would take from a batch besides its predictions."""

    event_id: str
    event_time: int  # epoch milliseconds: when the batch was made
    model_node: str
    deployment: str
    items_at: int  # where the array of predictions starts
    count: int  # predictions in the array's first block: all of them, as our writers write


def read_head(body: bytes, start: int) -> Head:
    """The head of an InferenceBatch body at ``start``; HeadError if it does not read, or
    ValueError (a mapping error) if its model version or deployment is not a valid id."""
    event_id, pos = read_string(body, start)
    event_time, pos = read_long(body, pos)
    _, pos = read_string(body, pos)  # producer
    _, pos = read_string(body, pos)  # namespace
    model, pos = read_optional(body, pos)
    version, pos = read_optional(body, pos)
    deployment, pos = read_optional(body, pos)
    count, _ = read_long(body, pos)
    model_node, deployment_node = served_by(model, version, deployment)
    return Head(event_id, event_time, model_node, deployment_node, pos, abs(count))


def container_schema(batch: EventSchema) -> dict[str, Any]:
    """The schema of the records sent to ClickHouse, from the batch's current schema."""
    [items] = [f for f in batch.expanded["fields"] if f["name"] == "inferences"]
    return {
        "type": "record",
        "name": "InferenceRows",
        "namespace": "lineage.store",
        "fields": [{"name": n, "type": t} for n, t in HEAD_FIELDS]
        + [{"name": "inferences", "type": items["type"]}],
    }


def container_header(schema: dict[str, Any], sync: bytes) -> bytes:
    """An Avro object container file's header: magic, metadata map, sync marker."""
    meta = {"avro.schema": json.dumps(schema).encode(), "avro.codec": b"null"}
    parts = [b"Obj\x01", long_bytes(len(meta))]
    for key, value in meta.items():
        parts += [string_bytes(key), long_bytes(len(value)), value]
    parts += [b"\x00", sync]
    return b"".join(parts)


@dataclass
class FastBatch:
    """Records ready for ClickHouse: one container, and what went into it."""

    records: list[Record]
    datums: list[bytes]
    predictions: int
    oldest_ms: int | None = None  # the earliest batch event time, for latency metrics

    def container(self, header: bytes, sync: bytes) -> bytes:
        size = sum(map(len, self.datums))
        return b"".join(
            [header, long_bytes(len(self.datums)), long_bytes(size), *self.datums, sync]
        )

    def token(self) -> str:
        """Names the records, like the sink's tokens: a retry of them is dropped."""
        return records_token(b"inference_batches", self.records)


class InferenceAvro:
    """Splits inference records into those ClickHouse can read and the rest, and stores
    the former."""

    def __init__(self, batch: EventSchema, max_bytes: int = 0) -> None:
        self.prefix = SINGLE_OBJECT_MAGIC + batch.fingerprint
        self.max_bytes = max_bytes
        self.sync = os.urandom(16)
        self.header = container_header(container_schema(batch), self.sync)

    def split(self, records: Sequence[Record]) -> tuple[FastBatch, list[Record]]:
        fast = FastBatch([], [], 0)
        rest: list[Record] = []
        prefix = self.prefix
        for rec in records:
            value = rec.value
            if not value.startswith(prefix) or (self.max_bytes and len(value) > self.max_bytes):
                rest.append(rec)
                continue
            try:
                head = read_head(value, SINGLE_OBJECT_HEADER)
            except (ValueError, NodeIdError):  # the Python path says what is wrong
                rest.append(rec)
                continue
            fast.records.append(rec)
            fast.predictions += head.count
            if fast.oldest_ms is None or head.event_time < fast.oldest_ms:
                fast.oldest_ms = head.event_time
            fast.datums.append(
                b"".join(
                    [
                        string_bytes(rec.topic),
                        long_bytes(rec.partition),
                        long_bytes(rec.offset),
                        string_bytes(head.model_node),
                        string_bytes(head.deployment),
                        string_bytes(head.event_id),
                        value[head.items_at :],
                    ]
                )
            )
        return fast, rest

    def insert(self, store: Store, fast: FastBatch) -> bool:
        """Store the predictions (True); a refusal is a StoreError, retried with the same
        token."""
        if not fast.records:
            return True
        store.insert_avro(
            "inference_batches",
            fast.container(self.header, self.sync),
            settings={
                "insert_deduplication_token": fast.token(),
                "deduplicate_blocks_in_dependent_materialized_views": 1,
            },
        )
        return True
