"""The reference path: every record mapped or set aside with its stage, never holding up the
rest, and a ``dead_letters`` row for each one set aside."""

from __future__ import annotations

import json

from lineage_collector.catalog import load_catalog
from lineage_collector.wire import encode
from lineage_processors.errors import RecordTooLargeError
from lineage_processors.ingest.processor import Record
from lineage_processors.ingest.reference.mapping import TABLES, RowBatch
from lineage_processors.ingest.reference.path import (
    ReferenceMapping,
    avro_mapper,
    decode_and_map,
    map_records,
    openlineage_mapper,
)
from tests.processors.ingest.openlineage.samples import broken, complete_event, start_event
from tests.processors.ingest.reference.test_mapping import training_record


def test_bad_avro_records_are_set_aside_and_neighbours_kept() -> None:
    catalog = load_catalog()
    good = encode(catalog.by_name("lineage.events.TrainingRun"), training_record())
    records = [
        Record("t", 0, 5, b"k", good),
        Record("t", 0, 6, b"k", b"\xc3\x01junk"),
        Record("t", 1, 9, b"k", good[:-4]),
    ]
    batch, rejected = decode_and_map(catalog, records)
    assert len(batch) == 1 and len(batch.edges) == 2
    assert [(r.record.offset, r.stage) for r in rejected] == [(6, "decode"), (9, "decode")]


def test_bad_openlineage_records_are_set_aside_and_neighbours_kept() -> None:
    good = json.dumps(start_event()).encode()
    records = [
        Record("ol", 0, 5, b"k", good),
        Record("ol", 0, 6, b"k", b"{oops"),
        Record("ol", 1, 9, b"k", json.dumps(broken("run.runId", "x")).encode()),
        Record("ol", 1, 10, b"k", json.dumps(complete_event()).encode()),
    ]
    batch, rejected = map_records(openlineage_mapper, records)
    assert len(batch) == 2 and len(batch.events_raw) == 2
    assert [(r.record.offset, r.stage) for r in rejected] == [(6, "decode"), (9, "map")]
    assert [r[7:] for r in batch.events_raw] == [("ol", 0, 5), ("ol", 1, 10)]


def test_a_fault_in_a_mapper_costs_one_record() -> None:
    def flaky(rec: Record) -> RowBatch:
        if rec.offset == 1:
            raise KeyError("surprise")
        return openlineage_mapper(rec)

    good = json.dumps(start_event()).encode()
    records = [Record("ol", 0, o, None, good) for o in range(3)]
    batch, rejected = map_records(flaky, records)
    assert len(batch) == 2
    assert [(r.record.offset, r.stage, type(r.error)) for r in rejected] == [(1, "map", KeyError)]


def test_a_record_over_the_size_limit_is_refused_unread() -> None:
    good = json.dumps(start_event()).encode()
    records = [Record("ol", 0, 0, None, good), Record("ol", 0, 1, None, good + b" " * 100)]
    batch, rejected = map_records(openlineage_mapper, records, max_bytes=len(good))
    assert len(batch) == 1
    [(bad, stage)] = [(r.error, r.stage) for r in rejected]
    assert stage == "size" and isinstance(bad, RecordTooLargeError)
    assert "LINEAGE_MAX_EVENT_BYTES" in str(bad)


def test_every_record_set_aside_gets_a_dead_letters_row_from_its_record() -> None:
    catalog = load_catalog()
    good = encode(catalog.by_name("lineage.events.TrainingRun"), training_record())
    records = [Record("t", 0, 5, b"k5", good), Record("t", 0, 6, b"k6", b"\xc3\x01junk")]
    batch, rejected = ReferenceMapping(avro_mapper(catalog)).map(records)
    assert [r.record.offset for r in rejected] == [6]
    [row] = batch.dead_letters
    assert row[:2] == ("decode", type(rejected[0].error).__name__)
    assert row[3:5] == ("k6", len(records[1].value))
    dead = list(TABLES).index("dead_letters")
    assert [(s.origin.offset, s.rows[dead]) for s in batch.sources] == [(5, 0), (6, 1)]
    assert len(batch) == 1  # a dead letter is no event
