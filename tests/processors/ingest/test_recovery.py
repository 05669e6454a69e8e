"""Recovery against a real chDB store: what an earlier run stored is not written again."""

from __future__ import annotations

from datetime import UTC, datetime

from lineage_collector.catalog import load_catalog
from lineage_collector.wire import encode
from lineage_processors.ingest.processor import Record
from lineage_processors.ingest.recovery import Recovery
from lineage_processors.ingest.reference.events import map_event
from lineage_processors.ingest.reference.mapping import Origin, RowBatch
from lineage_processors.ingest.reference.path import decode_and_map
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import ClickHouseSink
from tests.processors.ingest.reference.test_mapping import training_record


def batch_of(offsets: range, partition: int = 0) -> tuple[RowBatch, dict[tuple[str, int], int]]:
    """TrainingRun records at ``offsets``, each with its own event id and model version."""
    schema = load_catalog().by_name("lineage.events.TrainingRun")
    records = [
        Record(
            "events",
            partition,
            o,
            b"k",
            encode(
                schema,
                training_record(
                    event_id=f"e{partition}-{o}", model_version=f"1.{o}", run_id=f"r{partition}-{o}"
                ),
            ),
        )
        for o in offsets
    ]
    batch, rejected = decode_and_map(load_catalog(), records)
    assert not rejected
    return batch, {("events", partition): offsets[0]}


def counts(store: Store) -> tuple[int, int, int]:
    row = store.query(
        "SELECT (SELECT count() FROM events_raw), (SELECT uniqExact(event_id) FROM events_raw), "
        "(SELECT count() FROM edges)"
    ).result_rows[0]
    return int(row[0]), int(row[1]), int(row[2])


def test_a_restart_writes_only_the_records_not_yet_stored(store: Store) -> None:
    sink = ClickHouseSink(store)
    first, _ = batch_of(range(0, 10))
    sink.write(first)  # stored, then the worker died before committing
    again, firsts = batch_of(range(5, 15))  # the restart reads from offset 5, cut otherwise
    kept = Recovery().filter(store, again, firsts)
    assert [s.origin.offset for s in kept.sources if any(s.rows)] == list(range(10, 15))
    sink.write(kept)
    assert counts(store) == (15, 15, 30)


def test_recovery_continues_across_batches_until_past_what_was_stored(store: Store) -> None:
    sink = ClickHouseSink(store)
    sink.write(batch_of(range(0, 30))[0])
    recovery = Recovery()
    for lo, hi in ((0, 10), (10, 20), (20, 40)):
        batch, firsts = batch_of(range(lo, hi))
        sink.write(recovery.filter(store, batch, firsts))
        recovery.advance({("events", 0): hi - 1})
    assert counts(store) == (40, 40, 80)
    assert recovery.stored == {}  # past offset 29: nothing left to look up


def test_partitions_are_recovered_each_from_its_own_offset(store: Store) -> None:
    sink = ClickHouseSink(store)
    sink.write(batch_of(range(0, 8), partition=0)[0])
    sink.write(batch_of(range(100, 104), partition=1)[0])
    zero, firsts = batch_of(range(4, 12), partition=0)
    one, firsts_one = batch_of(range(100, 106), partition=1)
    zero.extend(one)
    kept = Recovery().filter(store, zero, {**firsts, **firsts_one})
    sink.write(kept)
    assert counts(store) == (18, 18, 36)


def predictions(offsets: range) -> RowBatch:
    """An InferenceBatch record of three predictions at each offset, one per month."""
    batch = RowBatch()
    for o in offsets:
        record = {
            "event_id": f"b{o}",
            "event_time": 0,
            "producer": "p",
            "namespace": "ns",
            "model": "churn",
            "model_version": "2.0",
            "deployment": None,
            "inferences": [
                {
                    "inference_id": f"p{o}-{month}",
                    "event_time": int(datetime(2026, month, 1, tzinfo=UTC).timestamp() * 1000),
                    "inputs": [],
                    "output": "yes",
                    "subject": None,
                }
                for month in (1, 2, 3)
            ],
        }
        origin = Origin("inferences", 0, o)
        batch.extend(map_event("lineage.events.InferenceBatch", record, origin), origin)
    return batch


def test_a_record_stored_in_part_is_deleted_and_written_whole(store: Store) -> None:
    sink = ClickHouseSink(store)
    sink.write(predictions(range(0, 3)))
    # As if the insert was cut short between two months: record 1 lost its March row.
    store.command("DELETE FROM inferences WHERE inference_id = 'p1-3'")
    again = predictions(range(0, 4))
    kept = Recovery().filter(store, again, {("inferences", 0): 0})
    assert [s.origin.offset for s in kept.sources if any(s.rows)] == [1, 3]
    sink.write(kept)
    rows = store.query(
        "SELECT src_offset, count(), uniqExact(inference_id) FROM inferences "
        "GROUP BY src_offset ORDER BY src_offset"
    ).result_rows
    assert rows == [(0, 3, 3), (1, 3, 3), (2, 3, 3), (3, 3, 3)]


def test_rows_collapsed_onto_newer_ones_are_not_written_again(store: Store) -> None:
    sink = ClickHouseSink(store)
    sink.write(batch_of(range(0, 6))[0])
    # Every record names the same dataset node: once merged, the nodes table keeps one row.
    store.command("OPTIMIZE TABLE nodes FINAL")
    held = store.query("SELECT count() FROM nodes WHERE node_id LIKE 'dataset:%'").result_rows
    assert held == [(1,)]
    again, firsts = batch_of(range(0, 6))
    kept = Recovery().filter(store, again, firsts)
    assert not any(any(s.rows) for s in kept.sources)
    sink.write(kept)
    after = store.query("SELECT count() FROM nodes WHERE node_id LIKE 'dataset:%'").result_rows
    assert after == held


def test_a_partition_read_where_it_left_off_is_not_looked_up(store: Store) -> None:
    recovery = Recovery()
    recovery.advance({("events", 0): 9})
    assert recovery.starts({("events", 0): 10}) == {}
    assert recovery.starts({("events", 0): 4}) == {("events", 0): 4}
    recovery.forget([("events", 0)])
    assert recovery.starts({("events", 0): 10}) == {("events", 0): 10}
