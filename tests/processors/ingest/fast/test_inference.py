"""Predictions decoded by ClickHouse, against a real chDB store: the same rows as the Python
mapping, bad records left to the Python path, nothing twice."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lineage_collector.catalog import load_catalog
from lineage_collector.inference_codec import encode_batch_body
from lineage_collector.wire import SINGLE_OBJECT_HEADER, encode, frame_single_object
from lineage_processors.ingest.fast.inference import HeadError, InferenceAvro, read_head
from lineage_processors.ingest.fast.paths import FastInferencePath
from lineage_processors.ingest.processor import IngestProcessor, Record, Rejected
from lineage_processors.ingest.reference.path import ReferenceMapping, avro_mapper
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import ClickHouseSink

CATALOG = load_catalog()
BATCH = CATALOG.by_name("lineage.events.InferenceBatch")
ROWS = (
    "SELECT inference_id, model_node, deployment, toUnixTimestamp64Milli(event_time), subject, "
    "inputs, input_datasets, output, event_id, src_topic, src_partition, src_offset, "
    "served_model, resolved FROM inferences ORDER BY inference_id, src_offset"
)


def batch_record(
    offset: int,
    n: int,
    *,
    model: str | None = "intent",
    deployment: str | None = None,
    partition: int = 0,
) -> Record:
    items: list[Any] = []
    for j in range(n):
        inputs = (
            [
                {"kind": "chunk", "ref": f"c{j}", "dataset": "dataset:kb@v2"},
                {"kind": "row", "ref": f"r{j}", "dataset": None},
                {"kind": "row", "ref": "x", "dataset": "dataset:a@v1"},
            ]
            if j % 3 == 0
            else []
        )
        output = None if j % 4 == 0 else f"class-{j % 5}"
        subject = None if j % 2 else f"pseudo-{j}"
        items.append(
            (f"p{offset}-{j}", 1_700_000_000_000 + j * 86_400_000, inputs, output, subject)
        )
    body = encode_batch_body(
        f"e{offset}",
        1_700_000_000_000,
        "test",
        "ns",
        model,
        "1.0" if model else None,
        deployment,
        items,
    )
    return Record("t.inferences", partition, offset, b"k", frame_single_object(BATCH, body))


class Refused:
    def __init__(self) -> None:
        self.sent: list[Rejected] = []

    async def __call__(self, bad: Rejected) -> None:
        self.sent.append(bad)


def processor(store: Store, dlq: Refused) -> IngestProcessor:
    return IngestProcessor(
        ReferenceMapping(avro_mapper(CATALOG)),
        ClickHouseSink(store),
        ThreadPoolExecutor(1),
        dlq,
        fast=FastInferencePath(InferenceAvro(BATCH)),
    )


def run(proc: IngestProcessor, records: list[Record]) -> None:
    asyncio.run(proc.store(proc.prepare(records)))


def test_read_head_reads_what_the_encoder_wrote() -> None:
    rec = batch_record(7, 3, model=None, deployment="prod/api")
    head = read_head(rec.value, SINGLE_OBJECT_HEADER)
    assert (head.event_id, head.model_node, head.deployment, head.count) == (
        "e7",
        "",
        "deployment:prod/api",
        3,
    )
    with pytest.raises(HeadError):
        read_head(rec.value[:14], SINGLE_OBJECT_HEADER)


def test_clickhouse_stores_the_rows_the_python_mapping_stores(store: Store) -> None:
    records = [batch_record(o, 40, partition=o % 2) for o in range(6)]
    records.append(batch_record(6, 5, model=None, deployment="prod/api"))
    fast = processor(store, Refused())
    run(fast, records)
    assert fast.fallbacks == 0
    # The same records, read from another topic, all through Python (as records of an
    # older schema, or a batch under recovery, would be).
    again = [Record("u.inferences", r.partition, r.offset, r.key, r.value) for r in records]
    asyncio.run(_python_path(processor(store, Refused()), again))
    rows = ROWS.replace("FROM inferences", "FROM inferences WHERE src_topic = {t:String}")
    got = store.query(rows, {"t": "t.inferences"}).result_rows
    want = store.query(rows, {"t": "u.inferences"}).result_rows
    assert len(got) == 245
    assert [r[:9] + r[10:] for r in got] == [r[:9] + r[10:] for r in want]


async def _python_path(proc: IngestProcessor, records: list[Record]) -> None:
    proc.fast = None  # the reference path alone
    await proc.store(proc.prepare(records))


def test_older_and_bad_records_take_the_python_path_and_the_dlq(store: Store) -> None:
    dlq = Refused()
    proc = processor(store, dlq)
    good = batch_record(0, 10)
    # A single prediction in the Inference schema: not a batch, mapped in Python.
    single = CATALOG.by_name("lineage.events.Inference")
    one = Record(
        "t.inferences",
        0,
        1,
        b"k",
        encode(
            single,
            {
                "event_id": "e1",
                "event_time": 1_700_000_000_000,
                "producer": "p",
                "namespace": "ns",
                "inference_id": "single-1",
                "model": "intent",
                "model_version": "1.0",
                "deployment": None,
                "inputs": [],
                "output": None,
                "subject": None,
            },
        ),
    )
    bad_id = batch_record(2, 3, model="bad model name")  # the head check refuses it
    truncated = Record("t.inferences", 0, 3, b"k", batch_record(3, 10).value[:-20])
    after = batch_record(4, 10)
    run(proc, [good, one, bad_id, truncated, after])
    ids = {r[0] for r in store.query("SELECT inference_id FROM inferences").result_rows}
    assert len(ids) == 21 and "single-1" in ids
    assert sorted((b.record.offset, b.stage) for b in dlq.sent) == [(2, "map"), (3, "decode")]
    # The truncated record made ClickHouse refuse the fast insert: the whole batch went the
    # Python way, and nothing is stored twice.
    assert proc.fallbacks == 1
    assert store.query("SELECT count() FROM inferences").result_rows[0][0] == 21


def test_a_batch_read_again_is_not_stored_twice(store: Store) -> None:
    records = [batch_record(o, 20) for o in range(4)]
    run(processor(store, Refused()), records[:3])
    # A new process reads from offset 1 again (the commit was lost): recovery leaves out
    # what is stored, the rest goes in.
    run(processor(store, Refused()), records[1:])
    assert store.query("SELECT count(), uniqExact(inference_id) FROM inferences").result_rows == [
        (80, 80)
    ]
