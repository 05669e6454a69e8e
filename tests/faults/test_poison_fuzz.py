"""Scenario 7, the property-based part: the decoder and the OpenLineage mapper, fed random
and mutated bytes, either give rows or refuse the record as poison; nothing else escapes."""

from __future__ import annotations

import contextlib
import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage_collector.catalog import load_catalog
from lineage_collector.errors import DecodeError
from lineage_collector.wire import Decoder
from lineage_processors.ingest.openlineage.fields import OpenLineageError
from lineage_processors.ingest.processor import Record
from lineage_processors.ingest.reference.mapping import MappingError
from lineage_processors.ingest.reference.path import avro_mapper, map_records, openlineage_mapper
from tests.faults.conftest import sized

CATALOG = load_catalog()
EXAMPLES = sized(300, 3000)
# Errors by which a record is refused as poison; anything else is a bug that would cost
# the whole batch, not one record.
POISON = (DecodeError, MappingError, OpenLineageError)

OL_EVENT = {
    "eventType": "COMPLETE",
    "eventTime": "2026-01-01T00:00:00Z",
    "producer": "https://example.org/fuzz",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    "run": {"runId": str(uuid.UUID(int=7))},
    "job": {"namespace": "fuzz", "name": "job"},
    "inputs": [{"namespace": "fuzz", "name": "in"}],
    "outputs": [{"namespace": "fuzz", "name": "out"}],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda b: b"\xc3\x01" + b),
        st.binary(max_size=300).map(lambda b: b"\x00" + b),
    )
)
def test_the_decoder_refuses_random_bytes_as_poison_only(value: bytes) -> None:
    """Pass: random bytes, also behind the single-object and Confluent magic, decode or
    raise DecodeError; never another exception."""
    with contextlib.suppress(DecodeError):
        Decoder(CATALOG).decode(value)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(OL_EVENT)), json_values, max_size=8))
def test_the_openlineage_mapper_refuses_malformed_events_as_poison_only(
    changes: dict[str, object],
) -> None:
    """Pass: an OpenLineage event with any of its fields replaced by arbitrary JSON maps to
    rows or is refused (OpenLineageError or MappingError); never another exception."""
    value = json.dumps({**OL_EVENT, **changes}).encode()
    with contextlib.suppress(POISON):
        openlineage_mapper(Record("ol", 0, 0, None, value))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=20))
def test_a_batch_of_random_records_is_set_aside_record_by_record(values: list[bytes]) -> None:
    """Pass: map_records never raises on a batch of random records; each one is either
    mapped or set aside as rejected, once."""
    records = [Record("t", 0, i, None, v) for i, v in enumerate(values)]
    for mapper in (avro_mapper(CATALOG), openlineage_mapper):
        batch, rejected = map_records(mapper, records)
        mapped = {s.origin.offset for s in batch.sources}
        refused = {r.record.offset for r in rejected}
        assert len(rejected) == len(refused)
        assert mapped | refused == set(range(len(values)))
        assert not mapped & refused
