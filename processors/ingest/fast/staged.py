"""Graph events decoded by ClickHouse: a batch staged as Avro, mapped by SQL.

Read through fastavro and mapped in Python, a graph event costs the worker about 150
microseconds of Python: the decode, a dict, eight kinds of row tuples, a JSON copy, then
column building for the insert. ClickHouse reads Avro itself, in C++. So for each record in
the current schema of one of our graph kinds, this module only checks the framing and puts
where the record was read in front of its untouched Avro body. The records of each kind go,
as one Avro container, into a stage table of that kind (engine Memory, this worker's own);
then one ``INSERT … SELECT`` per store table (:mod:`lineage_processors.ingest.fast.sql`) writes the
rows the Python mapping would have written, in the sink's table order and with a deduplication
token per table, so recovery and replays work as for any other batch.

A batch takes this path only whole: every record must be eligible, and none may carry an
id the Python mapping would refuse (the stage is checked before anything is written).
Otherwise, as for older schemas, registry framing, oversize records or a store that refuses,
the batch is mapped in Python, which sends the bad records to the DLQ with the reason.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lineage_collector.catalog import EventSchema, SchemaCatalog
from lineage_collector.inference_codec import long_bytes, string_bytes
from lineage_collector.wire import SINGLE_OBJECT_HEADER, SINGLE_OBJECT_MAGIC
from lineage_processors.errors import StoreError
from lineage_processors.ingest.fast.inference import HeadError, container_header, read_long
from lineage_processors.ingest.fast.sql import KINDS, insert_sql, invalid_sql
from lineage_processors.ingest.processor import Record, records_token
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import WRITE_ORDER, insert_settings

# What is put in front of each event: where its record was read.
SOURCE_FIELDS = (("src_topic", "string"), ("src_partition", "int"), ("src_offset", "long"))

_PRIMITIVES = {
    "string": "String",
    "long": "Int64",
    "int": "Int32",
    "double": "Float64",
    "float": "Float32",
    "boolean": "Bool",
}


def clickhouse_type(avro: Any, named: dict[str, str]) -> str:
    """The ClickHouse type ClickHouse reads an Avro type into; ``named`` collects the
    named types met so far, for the references that follow their definition."""
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro]
        return named[avro]
    if isinstance(avro, list):
        others = [t for t in avro if t != "null"]
        if len(others) != 1:
            raise ValueError(f"union {avro} has no single ClickHouse type")
        return f"Nullable({clickhouse_type(others[0], named)})"
    kind = avro["type"]
    if avro.get("logicalType") == "timestamp-millis":
        return "DateTime64(3, 'UTC')"
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    if kind == "array":
        return f"Array({clickhouse_type(avro['items'], named)})"
    if kind == "map":
        return f"Map(String, {clickhouse_type(avro['values'], named)})"
    if kind == "enum":
        result = "String"
    elif kind == "record":
        fields = ", ".join(
            f"{f['name']} {clickhouse_type(f['type'], named)}" for f in avro["fields"]
        )
        result = f"Tuple({fields})"
    else:
        raise ValueError(f"Avro type {kind} has no ClickHouse type here")
    name = avro["name"]
    namespace = avro.get("namespace")
    named[name if "." in name or not namespace else f"{namespace}.{name}"] = result
    named[name.rsplit(".", 1)[-1]] = result
    return result


def _columns(fields: list[dict[str, Any]], named: dict[str, str]) -> str:
    """``name Type, …`` of Avro record fields."""
    return ", ".join(f"{f['name']} {clickhouse_type(f['type'], named)}" for f in fields)


def _payload(schema: EventSchema) -> str:
    """SQL of the raw event's JSON as the Python mapping writes it: keys sorted, times as
    epoch milliseconds."""
    named: dict[str, str] = {}
    items = []
    for f in sorted(schema.expanded["fields"], key=lambda f: f["name"]):
        name, kind = f["name"], clickhouse_type(f["type"], named)
        if "DateTime64" in kind:
            value = f"toUnixTimestamp64Milli({name})"
            kind = "Nullable(Int64)" if kind.startswith("Nullable") else "Int64"
        else:
            value = name
        items.append((name, value, kind))
    values = ", ".join(v for _, v, _ in items)
    types = ", ".join(f"{n} {t}" for n, _, t in items)
    return f"toJSONString(CAST(tuple({values}), 'Tuple({types})'))"


@dataclass
class StagedKind:
    """One event kind's stage: its table, container header and what the SQL needs."""

    kind: str
    schema: EventSchema
    table: str
    header: bytes
    sync: bytes
    columns: str  # the stage table's columns, as SQL
    payload: str  # SQL of the raw event's JSON

    @classmethod
    def of(cls, schema: EventSchema) -> StagedKind:
        kind = schema.name.rsplit(".", 1)[-1]
        fields = [{"name": n, "type": t} for n, t in SOURCE_FIELDS]
        record = {
            "type": "record",
            "name": f"Staged{kind}",
            "namespace": "lineage.store",
            "fields": fields + list(schema.expanded["fields"]),
        }
        named: dict[str, str] = {}
        columns = ", ".join(
            f"{f['name']} {clickhouse_type(f['type'], named)}" for f in record["fields"]
        )
        sync = os.urandom(16)
        return cls(
            kind,
            schema,
            f"stage_{kind.lower()}",
            container_header(record, sync),
            sync,
            columns,
            _payload(schema),
        )


@dataclass
class StagedBatch:
    """A batch ready for the stage: each kind's records, and the batch as read."""

    records: Sequence[Record]
    datums: dict[str, list[bytes]] = field(default_factory=dict)
    oldest_ms: int | None = None  # the earliest event time, for latency metrics

    def token(self) -> str:
        """Names the records, like the sink's tokens: a retry of them is dropped."""
        return records_token(b"staged", self.records)


class GraphStage:
    """Splits off batches ClickHouse can map, and stores them."""

    def __init__(self, catalog: SchemaCatalog, max_bytes: int = 0) -> None:
        self.kinds: dict[bytes, StagedKind] = {}
        for name in KINDS:
            schema = catalog.by_name(f"lineage.events.{name}")
            self.kinds[SINGLE_OBJECT_MAGIC + schema.fingerprint] = StagedKind.of(schema)
        self.by_kind = {k.kind: k for k in self.kinds.values()}
        self.max_bytes = max_bytes
        self._created = False

    def split(self, records: Sequence[Record]) -> StagedBatch | None:
        """The batch staged, or None if any record must take the Python path."""
        staged = StagedBatch(records)
        kinds = self.kinds
        oldest: int | None = None
        for rec in records:
            value = rec.value
            kind = kinds.get(value[:SINGLE_OBJECT_HEADER])
            if kind is None or (self.max_bytes and len(value) > self.max_bytes):
                return None
            try:
                # Every kind starts with event_id and event_time: skip the one, read the
                # other for the metrics.
                size, pos = read_long(value, SINGLE_OBJECT_HEADER)
                when, _ = read_long(value, pos + size)
            except HeadError:
                return None
            if oldest is None or when < oldest:
                oldest = when
            staged.datums.setdefault(kind.kind, []).append(
                b"".join(
                    (
                        string_bytes(rec.topic),
                        long_bytes(rec.partition),
                        long_bytes(rec.offset),
                        value[SINGLE_OBJECT_HEADER:],
                    )
                )
            )
        staged.oldest_ms = oldest
        return staged

    def store(self, store: Store, staged: StagedBatch) -> bool:
        """Write the batch's rows; False, with nothing written, if an event would be refused
        by the Python mapping. A store that refuses raises StoreError."""
        present = [self.by_kind[name] for name in staged.datums]
        try:
            self._create(store)
            for kind in present:
                datums = staged.datums[kind.kind]
                store.command(f"TRUNCATE TABLE {kind.table}")
                body = b"".join(
                    (
                        kind.header,
                        long_bytes(len(datums)),
                        long_bytes(sum(map(len, datums))),
                        *datums,
                        kind.sync,
                    )
                )
                store.insert_avro(kind.table, body)
            invalid = store.query(invalid_sql({k.kind: k.table for k in present})).result_rows
            if invalid[0][0]:
                return False
            stages = {k.kind: (k.table, k.payload) for k in present}
            token = staged.token()
            for table in WRITE_ORDER:
                sql = insert_sql(table, stages)
                if sql is not None:
                    store.command(
                        sql,
                        settings={
                            **insert_settings(table, f"{table}/staged/{token}"),
                            "output_format_json_quote_64bit_integers": 0,
                        },
                    )
        finally:
            for kind in present:
                # The next batch truncates it first anyway.
                with contextlib.suppress(StoreError):
                    store.command(f"TRUNCATE TABLE {kind.table}")
        return True

    def _create(self, store: Store) -> None:
        if self._created:
            return
        for kind in self.kinds.values():
            columns = kind.columns
            store.command(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {kind.table} ({columns}) ENGINE = Memory"
            )
        self._created = True
