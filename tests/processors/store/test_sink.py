"""What the sink's inserts leave in the store when a batch holds the same event twice."""

from __future__ import annotations

from lineage_collector.catalog import load_catalog
from lineage_collector.wire import encode
from lineage_processors.ingest.processor import Record
from lineage_processors.ingest.reference.mapping import Origin, RowBatch
from lineage_processors.ingest.reference.path import decode_and_map
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import ClickHouseSink
from tests.processors.ingest.reference.test_mapping import training_record
from tests.processors.ingest.test_recovery import predictions


def test_an_event_twice_in_one_batch_is_one_row_under_final(store: Store) -> None:
    value = encode(load_catalog().by_name("lineage.events.TrainingRun"), training_record())
    # The same event at two offsets, as a producer's retry sends it.
    records = [Record("events", 0, offset, b"k", value) for offset in (0, 1)]
    batch, rejected = decode_and_map(load_catalog(), records)
    assert not rejected
    ClickHouseSink(store).write(batch)
    # Written as it came (inserts skip collapsing a batch's repeats) and read once under
    # FINAL, like a repeat in another batch.
    rows = store.query(
        "SELECT (SELECT count() FROM events_raw), (SELECT count() FROM events_raw FINAL), "
        "(SELECT count() FROM edges), (SELECT count() FROM edges FINAL)"
    ).result_rows
    edges = len(batch.edges) // 2
    assert rows == [(2, 1, 2 * edges, edges)]


def test_a_prediction_twice_in_one_batch_is_stored_once(store: Store) -> None:
    # The views over predictions read without FINAL, so a batch's repeats collapse on insert.
    batch = RowBatch()
    for offset in (0, 1):
        batch.extend(predictions(range(0, 1)), Origin("inferences", 0, offset))
    ClickHouseSink(store).write(batch)
    assert store.query("SELECT count() FROM inferences").result_rows == [(3,)]
    assert store.query("SELECT count() FROM attributions").result_rows == [(3,)]
