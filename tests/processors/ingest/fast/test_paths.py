"""The fast paths as the processor takes them: what each takes of a batch, what it leaves to
the reference path, and what it counts. (Their rows are held equal to the reference path's in
test_staged and test_inference.)"""

from __future__ import annotations

from lineage_collector.catalog import load_catalog
from lineage_processors.ingest.fast.inference import InferenceAvro
from lineage_processors.ingest.fast.paths import FastGraphPath, FastInferencePath
from lineage_processors.ingest.fast.staged import GraphStage
from lineage_processors.ingest.processor import Record
from lineage_processors.ops.metrics import INFERENCE_KIND, BatchReport
from tests.processors.ingest.fast.test_inference import BATCH, batch_record
from tests.processors.ingest.fast.test_staged import T, events, record

CATALOG = load_catalog()


def test_the_graph_path_takes_a_batch_whole_or_not_at_all() -> None:
    path = FastGraphPath(GraphStage(CATALOG))
    records = [record(e, i) for i, e in enumerate(events()[:4])]
    taken = path.take(records)
    assert taken is not None
    part, rest = taken
    assert rest == [] and list(part.records) == records
    assert part.events == 4 and sum(part.consumed.values()) == 4
    assert part.oldest_ms == int(T.timestamp() * 1000)
    junk = Record("t.events", 0, 4, b"k", b"\x00\x00\x00\x00\x07junk")
    assert path.take([*records, junk]) is None


def test_the_inference_path_takes_current_batches_and_leaves_the_rest() -> None:
    path = FastInferencePath(InferenceAvro(BATCH))
    good = [batch_record(0, 5), batch_record(2, 7)]
    bad = batch_record(1, 3, model="bad model name")
    taken = path.take([good[0], bad, good[1]])
    assert taken is not None
    part, rest = taken
    assert list(part.records) == good and list(rest) == [bad]
    assert (part.events, part.consumed) == (12, {INFERENCE_KIND: 12})
    assert path.take([bad]) is None


def test_a_part_adds_its_events_to_the_report_of_the_rest() -> None:
    taken = FastInferencePath(InferenceAvro(BATCH)).take([batch_record(0, 5)])
    assert taken is not None
    part = taken[0]
    report = BatchReport("t", 1, 2, consumed={INFERENCE_KIND: 2}, oldest_event_ms=2**62)
    part.count(report, 3)
    assert (report.records, report.events, report.consumed) == (3, 7, {INFERENCE_KIND: 7})
    assert report.oldest_event_ms == part.oldest_ms
