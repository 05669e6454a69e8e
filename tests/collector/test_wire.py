"""Single-object encoding: round trips, the fingerprint per the Avro spec, and poison input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastavro.schema import to_parsing_canonical_form

from lineage_collector.catalog import load_catalog, read_schema_file
from lineage_collector.errors import DecodeError, SchemaError
from lineage_collector.events import DatasetRef, TrainingRun
from lineage_collector.wire import Decoder, decode, encode, encode_body, frame_confluent

CATALOG = load_catalog()
SCHEMA = CATALOG.by_name("lineage.events.TrainingRun")


def _crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO written out from the Avro specification, independent of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def record() -> dict[str, object]:
    event = TrainingRun("m", "1.0", [DatasetRef("d", "v1", "train")], run_id="r-1")
    return {
        "event_id": "e-1",
        "event_time": datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
        "producer": "p",
        "namespace": "ns",
        **event.fields(),
    }


def test_round_trip_keeps_every_field() -> None:
    schema, decoded = decode(CATALOG, encode(SCHEMA, record()))
    assert schema.name == "lineage.events.TrainingRun"
    assert decoded == record()


def test_header_is_magic_then_little_endian_crc64_of_canonical_form() -> None:
    expected = _crc64_avro(to_parsing_canonical_form(SCHEMA.expanded).encode()).to_bytes(
        8, "little"
    )
    data = encode(SCHEMA, record())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == expected == SCHEMA.fingerprint


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:-3], "body is malformed"),
        (lambda b: b"\x07\x01" + b[2:], "not a lineage record: starts with 0701"),
        (lambda b: b[:2] + b"\xff" * 8 + b[10:], "unknown schema fingerprint ffffffffffffffff"),
        (lambda b: b + b"\x00\x00", "2 trailing bytes"),
        (lambda b: b"", "starts with nothing"),
    ],
)
def test_poison_bytes_raise_decode_error(mutate: object, message: str) -> None:
    data = encode(SCHEMA, record())
    with pytest.raises(DecodeError, match=message):
        decode(CATALOG, mutate(data))  # type: ignore[operator]


def test_record_that_does_not_fit_is_refused() -> None:
    bad = record()
    bad["datasets"] = "not a list"
    with pytest.raises(SchemaError, match=r"does not fit lineage\.events\.TrainingRun"):
        encode(SCHEMA, bad)


def test_schema_folder_must_match_namespace() -> None:
    text = '{"type": "record", "name": "X", "namespace": "a.b", "fields": []}'
    with pytest.raises(SchemaError, match=r"its folder says 'c\.d'"):
        read_schema_file(text, "c.d", "schemas/c/d/X.avsc")
    with pytest.raises(SchemaError, match="not valid JSON"):
        read_schema_file("{", "a", "schemas/a/Y.avsc")


def test_registry_framing_without_a_registry_is_a_poison_record() -> None:
    data = frame_confluent(42, encode_body(SCHEMA, record()))
    assert data[:5] == b"\x00\x00\x00\x00\x2a"
    with pytest.raises(DecodeError, match=r"schema id 42.*no LINEAGE_SCHEMA_REGISTRY_URL"):
        Decoder(CATALOG).decode(data)
