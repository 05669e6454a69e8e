"""A batch of rows remembers which record gave which rows: what the sink stamps on them and
what recovery leaves out by."""

from __future__ import annotations

from datetime import UTC, datetime

from lineage_collector.catalog import load_catalog
from lineage_collector.events import DatasetRef, TrainingRun
from lineage_collector.wire import encode
from lineage_processors.ingest.processor import Record
from lineage_processors.ingest.reference.mapping import TABLES, Origin
from lineage_processors.ingest.reference.path import decode_and_map
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
