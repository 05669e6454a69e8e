"""Avro single-object encoding: ``C3 01`` + 8-byte CRC-64-AVRO fingerprint + Avro body.

The fingerprint names the writer's schema, so a consumer can decode a record without a
registry, as long as the schema is in the catalogue shipped with the package.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from collector.catalog import EventSchema, SchemaCatalog
from collector.errors import DecodeError, SchemaError

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
HEADER_SIZE = len(SINGLE_OBJECT_MAGIC) + 8


def encode(schema: EventSchema, record: dict[str, Any]) -> bytes:
    """Encode ``record`` with ``schema`` in single-object form."""
    buf = io.BytesIO()
    buf.write(SINGLE_OBJECT_MAGIC)
    buf.write(schema.fingerprint)
    try:
        schemaless_writer(buf, schema.parsed, record)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SchemaError(f"record does not fit {schema.name}: {exc}") from None
    return buf.getvalue()


def decode(catalog: SchemaCatalog, data: bytes) -> tuple[EventSchema, dict[str, Any]]:
    """Decode single-object bytes into the writer's schema and the record.

    Raises :class:`DecodeError` for anything that is not a complete record of a known schema.
    """
    if len(data) < HEADER_SIZE or data[:2] != SINGLE_OBJECT_MAGIC:
        raise DecodeError(
            f"not an Avro single-object record (starts with {data[:2].hex() or 'nothing'}, "
            f"expected c301)"
        )
    fp = bytes(data[2:HEADER_SIZE])
    schema = catalog.by_fingerprint(fp)
    if schema is None:
        raise DecodeError(f"unknown schema fingerprint {fp.hex()}: not in the shipped schemas")
    body = io.BytesIO(data)
    body.seek(HEADER_SIZE)
    try:
        record = schemaless_reader(body, schema.parsed, None)
    except (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise DecodeError(f"{schema.name} body is malformed: {type(exc).__name__}: {exc}") from None
    if body.tell() != len(data):
        raise DecodeError(f"{schema.name} body has {len(data) - body.tell()} trailing bytes")
    if not isinstance(record, dict):
        raise DecodeError(f"{schema.name} body did not decode to a record")
    return schema, record
