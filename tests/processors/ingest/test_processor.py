"""The ingest processor composing its paths, against a real chDB store: the fast path takes its
part, the reference path the rest and every batch the fast path cannot finish; bad records go
to the DLQ once; a store that refuses is asked again; a batch is counted once it is committed.

The fast path here is a stand-in that takes the records at chosen offsets, so each branch of
the composition can be driven; the real fast paths are held to the reference path in
``tests/processors/ingest/fast``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lineage_collector.catalog import load_catalog
from lineage_collector.wire import encode
from lineage_processors.errors import StoreError
from lineage_processors.ingest.processor import (
    Bounds,
    FastPart,
    IngestProcessor,
    Record,
    Rejected,
    partition_bounds,
    records_token,
)
from lineage_processors.ingest.reference.path import ReferenceMapping, avro_mapper
from lineage_processors.ops.metrics import WorkerMetrics
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import ClickHouseSink
from tests.processors.ingest.reference.test_mapping import training_record

CATALOG = load_catalog()
TOPIC = "t.events"
THING_TIME = 1_700_000_000_000


def record(offset: int, partition: int = 0) -> Record:
    value = encode(
        CATALOG.by_name("lineage.events.TrainingRun"),
        training_record(event_id=f"e{offset}", model_version=f"1.{offset}", run_id=f"r{offset}"),
    )
    return Record(TOPIC, partition, offset, b"k", value)


class Letters:
    """A dead-letter topic that keeps what it is sent, or refuses."""

    def __init__(self, refuse: bool = False) -> None:
        self.sent: list[Rejected] = []
        self.refuse = refuse

    async def __call__(self, bad: Rejected) -> None:
        if self.refuse:
            raise RuntimeError("the DLQ is full")
        self.sent.append(bad)


class Taking:
    """A fast path that takes the records at ``offsets``; their insert returns ``outcome``
    (or raises it), and writes nothing: each record stands for three "Thing" events."""

    def __init__(self, offsets: Sequence[int], outcome: bool | Exception = True) -> None:
        self.offsets = set(offsets)
        self.outcome = outcome
        self.inserted: list[list[int]] = []

    def take(self, records: Sequence[Record]) -> tuple[FastPart, Sequence[Record]] | None:
        took = [r for r in records if r.offset in self.offsets]
        if not took:
            return None
        rest = [r for r in records if r.offset not in self.offsets]

        def insert(store: Store) -> bool:
            self.inserted.append([r.offset for r in took])
            if isinstance(self.outcome, Exception):
                raise self.outcome
            return self.outcome

        part = FastPart("things", took, 3 * len(took), {"Thing": 3 * len(took)}, THING_TIME, insert)
        return part, rest


def processor(
    store: Store,
    fast: Taking | None = None,
    letters: Letters | None = None,
    metrics: WorkerMetrics | None = None,
    on_stored: Any = None,
) -> IngestProcessor:
    return IngestProcessor(
        ReferenceMapping(avro_mapper(CATALOG)),
        ClickHouseSink(store),
        ThreadPoolExecutor(1),
        letters or Letters(),
        fast=fast,
        on_stored=on_stored,
        metrics=metrics,
    )


def run(proc: IngestProcessor, records: list[Record]) -> None:
    prepared = proc.prepare(records)
    asyncio.run(proc.store(prepared))
    proc.committed(prepared)


def stored_offsets(store: Store) -> list[int]:
    rows = store.query("SELECT offset FROM events_raw FINAL ORDER BY offset").result_rows
    return [int(r[0]) for r in rows]


def sample(m: WorkerMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, {"topic": TOPIC, **labels})


def test_bounds_and_tokens_name_the_records_read() -> None:
    records = [record(5), record(7, partition=1), record(6), record(8, partition=1)]
    assert partition_bounds(records) == (
        {(TOPIC, 0): 5, (TOPIC, 1): 7},
        {(TOPIC, 0): 6, (TOPIC, 1): 8},
    )
    assert records_token(b"a", records) == records_token(b"a", list(records))
    assert records_token(b"a", records) != records_token(b"b", records)
    assert records_token(b"a", records) != records_token(b"a", records[:3])


def test_the_reference_path_stores_a_batch_and_dead_letters_its_bad_records(store: Store) -> None:
    letters, metrics = Letters(), WorkerMetrics.fresh()
    proc = processor(store, letters=letters, metrics=metrics)
    junk = Record(TOPIC, 0, 1, b"k", b"\xc3\x01junk")
    run(proc, [record(0), junk, record(2)])
    assert stored_offsets(store) == [0, 2]
    assert [(b.record.offset, b.stage) for b in letters.sent] == [(1, "decode")]
    assert (proc.written, proc.rejected, proc.fallbacks) == (2, 1, 0)
    assert store.query("SELECT count() FROM dead_letters").result_rows == [(1,)]
    assert sample(metrics, "lineage_records_consumed_total") == 3
    assert sample(metrics, "lineage_events_written_total", kind="TrainingRun") == 2
    assert sample(metrics, "lineage_events_failed_total", stage="decode") == 1
    assert sample(metrics, "lineage_events_dead_lettered_total", stage="decode") == 1
    assert sample(metrics, "lineage_clickhouse_write_seconds_count") == 1


def test_a_dead_letter_an_earlier_run_sent_is_not_sent_again(store: Store) -> None:
    junk = Record(TOPIC, 0, 1, b"k", b"\xc3\x01junk")
    run(processor(store), [record(0), junk, record(2)])
    letters = Letters()
    # A new process reads the same batch again (the commit was lost).
    run(processor(store, letters=letters), [record(0), junk, record(2)])
    assert letters.sent == []
    assert stored_offsets(store) == [0, 2]


def test_the_fast_path_takes_its_part_and_the_reference_path_the_rest(store: Store) -> None:
    fast, metrics, stored = Taking([0, 1]), WorkerMetrics.fresh(), []
    proc = processor(store, fast, metrics=metrics, on_stored=lambda f, la: stored.append((f, la)))
    run(proc, [record(o) for o in range(4)])
    assert fast.inserted == [[0, 1]]
    assert stored_offsets(store) == [2, 3]
    assert (proc.written, proc.fallbacks) == (3 * 2 + 2, 0)
    # The hook and recovery follow the whole batch, whichever path stored each record.
    bounds: tuple[Bounds, Bounds] = ({(TOPIC, 0): 0}, {(TOPIC, 0): 3})
    assert stored == [bounds]
    assert proc.recovery.next_offset == {(TOPIC, 0): 4}
    assert sample(metrics, "lineage_records_consumed_total") == 4
    assert sample(metrics, "lineage_batch_events_sum") == 3 * 2 + 2
    for kind, n in (("Thing", 6), ("TrainingRun", 2)):
        assert sample(metrics, "lineage_events_consumed_total", kind=kind) == n
        assert sample(metrics, "lineage_events_written_total", kind=kind) == n
    assert sample(metrics, "lineage_clickhouse_write_seconds_count") == 1
    assert sample(metrics, "lineage_end_to_end_latency_seconds_count") == 1


def test_a_batch_the_fast_path_takes_whole_maps_nothing(store: Store) -> None:
    fast, metrics = Taking(range(3)), WorkerMetrics.fresh()
    proc = processor(store, fast, metrics=metrics)
    run(proc, [record(o) for o in range(3)])
    assert fast.inserted == [[0, 1, 2]]
    assert stored_offsets(store) == []
    assert proc.written == 9 and proc.recovery.next_offset == {(TOPIC, 0): 3}
    assert sample(metrics, "lineage_events_written_total", kind="Thing") == 9
    assert sample(metrics, "lineage_events_written_total", kind="TrainingRun") is None
    assert sample(metrics, "lineage_clickhouse_write_seconds_count") == 1


@pytest.mark.parametrize("outcome", [False, StoreError("bad bytes inside a record")])
def test_a_fast_insert_that_fails_sends_the_whole_batch_the_reference_way(
    store: Store, outcome: bool | Exception
) -> None:
    fast, metrics = Taking([0, 1], outcome), WorkerMetrics.fresh()
    proc = processor(store, fast, metrics=metrics)
    run(proc, [record(o) for o in range(4)])
    assert fast.inserted == [[0, 1]]
    assert stored_offsets(store) == [0, 1, 2, 3]
    assert (proc.written, proc.fallbacks) == (4, 1)
    assert sample(metrics, "lineage_events_written_total", kind="TrainingRun") == 4
    assert sample(metrics, "lineage_events_consumed_total", kind="Thing") is None


def test_a_partition_read_again_goes_the_reference_way_and_nothing_twice(store: Store) -> None:
    run(processor(store), [record(o) for o in range(3)])
    fast = Taking(range(6))
    # A new process reads from offset 0 again: the store must be asked first, so the fast
    # path, which cannot leave out what is stored, is not taken.
    proc = processor(store, fast)
    run(proc, [record(o) for o in range(5)])
    assert fast.inserted == []
    assert proc.fallbacks == 0
    assert stored_offsets(store) == [0, 1, 2, 3, 4]
    # The partition now continues where this process left it: the fast path again.
    run(proc, [record(5)])
    assert fast.inserted == [[5]]


def test_a_store_that_refuses_is_asked_again(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = WorkerMetrics.fresh()
    proc = processor(store, metrics=metrics)
    write, calls = proc.sink.write, []

    def refuse_once(batch: Any) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise StoreError("the store is restarting")
        write(batch)

    monkeypatch.setattr(proc.sink, "write", refuse_once)
    run(proc, [record(0), record(1)])
    assert calls == [2, 2]
    assert stored_offsets(store) == [0, 1]
    assert proc.thread.errors == 1
    assert proc.write_failures.seconds() == 0.0  # it went through in the end
    assert (
        metrics.registry.get_sample_value("lineage_clickhouse_errors_total", {"operation": "write"})
        == 1
    )


def test_a_dlq_that_refuses_fails_the_batch_uncommitted(store: Store) -> None:
    proc = processor(store, letters=Letters(refuse=True))
    junk = Record(TOPIC, 0, 1, b"k", b"\xc3\x01junk")
    with pytest.raises(RuntimeError, match="the DLQ is full"):
        asyncio.run(proc.store(proc.prepare([record(0), junk])))
    # Not marked stored: the batch is read again from its committed offset.
    assert proc.recovery.next_offset == {}
