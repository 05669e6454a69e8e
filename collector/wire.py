"""Wire formats of lineage events, and one decoder that reads them all.

* Avro single-object encoding: ``C3 01`` + 8-byte little-endian CRC-64-AVRO fingerprint + body.
  The fingerprint names the writer's schema among those shipped in ``schemas/``.
* Confluent Schema Registry framing: ``00`` + 4-byte big-endian schema id + body, used when a
  registry is configured; the id names the writer's schema in the registry.

Either way the record is read with the writer's schema resolved into the current one, so
producers on an older release keep being understood.
"""

from __future__ import annotations

import io
import struct
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from lineage_collector.catalog import EventSchema, SchemaCatalog, plain_timestamps
from lineage_collector.errors import DecodeError, RegistryError, SchemaError
from lineage_collector.registry import SchemaRegistryClient, UnknownSchemaIdError

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
SINGLE_OBJECT_HEADER = len(SINGLE_OBJECT_MAGIC) + 8
CONFLUENT_MAGIC = 0
CONFLUENT_HEADER = 5


def encode_body(schema: EventSchema, record: dict[str, Any]) -> bytes:
    """The Avro binary body of ``record``, no framing."""
    buf = io.BytesIO()
    try:
        schemaless_writer(buf, schema.parsed, record)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SchemaError(f"record does not fit {schema.name}: {exc}") from None
    return buf.getvalue()


def frame_single_object(schema: EventSchema, body: bytes) -> bytes:
    """Put the single-object header (magic, schema fingerprint) in front of an Avro body."""
    return SINGLE_OBJECT_MAGIC + schema.fingerprint + body


def encode(schema: EventSchema, record: dict[str, Any]) -> bytes:
    """Encode ``record`` with ``schema`` in single-object form."""
    return frame_single_object(schema, encode_body(schema, record))


def frame_confluent(schema_id: int, body: bytes) -> bytes:
    """Put Confluent's header (magic 0, big-endian schema id) in front of an Avro body."""
    return struct.pack(">bI", CONFLUENT_MAGIC, schema_id) + body


class TransientDecodeError(RegistryError):
    """The record may be fine but its schema could not be fetched now: retry, do not DLQ."""


class Decoder:
    """Decode records in either framing into ``(current schema, record)``.

    :class:`DecodeError` means the record itself is bad (a poison record);
    :class:`TransientDecodeError` means the registry could not be asked, so try again later.
    """

    def __init__(
        self,
        catalog: SchemaCatalog,
        registry: SchemaRegistryClient | None = None,
        *,
        millis: bool = False,
    ) -> None:
        """``millis``: timestamps come back as epoch milliseconds instead of datetimes."""
        self.catalog = catalog
        self.registry = registry
        self.millis = millis
        self._by_id: dict[int, tuple[Any, EventSchema]] = {}

    def _form(self, schema: EventSchema) -> Any:
        return schema.parsed_millis if self.millis else schema.parsed

    def decode(self, data: bytes) -> tuple[EventSchema, dict[str, Any]]:
        if data[:2] == SINGLE_OBJECT_MAGIC and len(data) >= SINGLE_OBJECT_HEADER:
            fp = bytes(data[2:SINGLE_OBJECT_HEADER])
            known = self.catalog.by_fingerprint(fp)
            if known is None:
                raise DecodeError(
                    f"unknown schema fingerprint {fp.hex()}: not among the shipped or "
                    "released schemas (a producer on a newer release? upgrade the worker)"
                )
            writer = self._form(known.writer)
            reader = self._form(known.reader) if known.resolves else None
            return known.reader, _read(data, SINGLE_OBJECT_HEADER, writer, reader, known.reader)
        if data[:1] == b"\x00" and len(data) >= CONFLUENT_HEADER:
            schema_id = struct.unpack(">I", data[1:CONFLUENT_HEADER])[0]
            writer, current = self._registry_schema(schema_id)
            return current, _read(data, CONFLUENT_HEADER, writer, self._form(current), current)
        raise DecodeError(
            f"not a lineage record: starts with {data[:2].hex() or 'nothing'}, expected c301 "
            "(Avro single-object) or 00 (schema registry framing)"
        )

    def _registry_schema(self, schema_id: int) -> tuple[Any, EventSchema]:
        cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        if self.registry is None:
            raise DecodeError(
                f"record framed for a schema registry (schema id {schema_id}) but no "
                "LINEAGE_SCHEMA_REGISTRY_URL is configured"
            )
        try:
            raw = self.registry.schema(schema_id)
        except UnknownSchemaIdError as exc:
            raise DecodeError(f"unknown schema id {schema_id}: {exc}") from None
        except RegistryError as exc:
            raise TransientDecodeError(str(exc)) from None
        name = f"{raw.get('namespace', '')}.{raw.get('name', '')}" if isinstance(raw, dict) else ""
        try:
            reader = self.catalog.by_name(name)
        except SchemaError:
            raise DecodeError(
                f"schema id {schema_id} is {name or 'unnamed'}, not a lineage event"
            ) from None
        try:
            # Marked as parsed (the default): fastavro then does not parse it again per record.
            writer = parse_schema(plain_timestamps(raw) if self.millis else raw)
        except Exception as exc:  # fastavro raises several unrelated types for bad schemas
            raise DecodeError(f"schema id {schema_id} is not valid Avro: {exc}") from None
        self._by_id[schema_id] = (writer, reader)
        return writer, reader


def _read(data: bytes, start: int, writer: Any, reader: Any, schema: EventSchema) -> dict[str, Any]:
    body = io.BytesIO(data)
    body.seek(start)
    try:
        record = schemaless_reader(body, writer, reader)
    except (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise DecodeError(f"{schema.name} body is malformed: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # schema resolution failures surface as fastavro's own types
        raise DecodeError(f"{schema.name} cannot be read: {type(exc).__name__}: {exc}") from None
    if body.tell() != len(data):
        raise DecodeError(f"{schema.name} body has {len(data) - body.tell()} trailing bytes")
    if not isinstance(record, dict):
        raise DecodeError(f"{schema.name} body did not decode to a record")
    return record


def decode(catalog: SchemaCatalog, data: bytes) -> tuple[EventSchema, dict[str, Any]]:
    """Decode one record without a registry (single-object encoding only)."""
    return Decoder(catalog).decode(data)
