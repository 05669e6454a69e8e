"""Event -> rows is a pure function: exact rows, no broker, no store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lineage_collector.catalog import load_catalog
from lineage_collector.events import DatasetRef, TrainingRun
from lineage_collector.wire import encode
from lineage_processors.ingest.processor import Record, decode_and_map
from lineage_processors.ingest.reference.mapping import TABLES, MappingError, Origin, map_event
from lineage_processors.store.sink import dedup_token, source_columns

WHEN = datetime(2026, 5, 1, tzinfo=UTC)


def training_record(**changes: object) -> dict[str, object]:
    event = TrainingRun(
        "churn",
        "2.0",
        [DatasetRef("crm/accounts", "v3", "train")],
        run_id="r1",
        hyperparameters={"depth": "6"},
    )
    rec: dict[str, object] = {
        "event_id": "e1",
        "event_time": WHEN,
        "producer": "p",
        "namespace": "ns",
        **event.fields(),
    }
    rec.update(changes)
    return rec


def test_training_run_rows() -> None:
    rows = map_event("lineage.events.TrainingRun", training_record(), Origin("t", 1, 42))
    assert rows.nodes == [
        ("model:churn@2.0", "model", "churn", "2.0", "ns", WHEN, "e1"),
        ("run:r1", "run", "r1", "", "ns", WHEN, "e1"),
        ("dataset:crm/accounts@v3", "dataset", "crm/accounts", "v3", "ns", WHEN, "e1"),
    ]
    assert rows.properties == [
        ("run:r1", "hyperparameter.depth", "6", WHEN, "e1"),
        ("run:r1", "status", "COMPLETED", WHEN, "e1"),
    ]
    assert rows.edges == [
        ("run:r1", "model:churn@2.0", "output", "", WHEN, "r1", "e1"),
        ("dataset:crm/accounts@v3", "run:r1", "input", "train", WHEN, "r1", "e1"),
    ]
    [raw] = rows.events_raw
    assert raw[:6] == ("e1", "TrainingRun", WHEN, "p", "ns", "model:churn@2.0")
    assert raw[7:] == ("t", 1, 42)


def test_unmappable_ids_are_mapping_errors() -> None:
    with pytest.raises(MappingError, match="model version 'bad version'"):
        map_event(
            "lineage.events.TrainingRun",
            training_record(model_version="bad version"),
            Origin("t", 0, 0),
        )
    with pytest.raises(MappingError, match=r"no mapping for events of schema x\.Y"):
        map_event("x.Y", {}, Origin("t", 0, 0))


def test_bad_records_are_set_aside_and_neighbours_kept() -> None:
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


def test_batch_remembers_which_record_gave_which_rows() -> None:
    catalog = load_catalog()
    good = encode(catalog.by_name("lineage.events.TrainingRun"), training_record())
    records = [Record("t", 0, 5, b"k", good), Record("t", 1, 9, b"k", good)]
    batch, _ = decode_and_map(catalog, records)
    edges = list(TABLES).index("edges")
    assert [(s.origin, s.rows[edges]) for s in batch.sources] == [
        (Origin("t", 0, 5), 2),
        (Origin("t", 1, 9), 2),
    ]
    assert source_columns(batch.sources, edges) == [["t"] * 4, [0, 0, 1, 1], [5, 5, 9, 9]]


def test_without_leaves_out_only_what_a_table_holds_in_full() -> None:
    catalog = load_catalog()
    good = encode(catalog.by_name("lineage.events.TrainingRun"), training_record())
    records = [Record("t", 0, o, b"k", good) for o in (5, 6, 7)]
    batch, _ = decode_and_map(catalog, records)
    # edges hold both rows of 5 and one of 6's two; events_raw holds 7.
    held = {("edges", 5): 2, ("edges", 6): 1, ("events_raw", 7): 1}
    kept = batch.without(lambda table, o, n: held.get((table, o.offset), 0) >= n)
    assert len(kept.edges) == 4 and kept.edges == batch.edges[2:]
    assert [r[-1] for r in kept.events_raw] == [5, 6]
    assert len(kept.nodes) == len(batch.nodes)
    edges = list(TABLES).index("edges")
    assert source_columns(kept.sources, edges)[2] == [6, 6, 7, 7]


def test_dedup_tokens_name_the_records_not_the_batch() -> None:
    catalog = load_catalog()
    good = encode(catalog.by_name("lineage.events.TrainingRun"), training_record())
    batch, _ = decode_and_map(catalog, [Record("t", 0, o, b"k", good) for o in (5, 6)])
    again, _ = decode_and_map(catalog, [Record("t", 0, o, b"k", good) for o in (5, 6)])
    edges = list(TABLES).index("edges")
    assert dedup_token(batch.sources, edges) == dedup_token(again.sources, edges)
    fewer = batch.without(lambda table, o, n: table == "edges" and o.offset == 5)
    assert dedup_token(fewer.sources, edges) != dedup_token(batch.sources, edges)
    assert dedup_token(batch.sources, edges, "salt") != dedup_token(batch.sources, edges)
