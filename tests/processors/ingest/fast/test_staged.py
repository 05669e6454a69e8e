"""Graph events mapped by ClickHouse, against a real chDB store: the same rows as the Python
mapping for every kind, bad batches left to the Python path and the DLQ, nothing twice."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from lineage_collector.catalog import load_catalog
from lineage_collector.events import (
    DatasetRef,
    DatasetVersion,
    Deployment,
    SourceExtraction,
    SubjectLinks,
    Tag,
    TrainingRun,
    TransformationRun,
)
from lineage_collector.wire import encode
from lineage_processors.ingest.fast.paths import FastGraphPath
from lineage_processors.ingest.fast.sql import KINDS
from lineage_processors.ingest.fast.staged import GraphStage
from lineage_processors.ingest.processor import IngestProcessor, Record, Rejected
from lineage_processors.ingest.reference.mapping import TABLES
from lineage_processors.ingest.reference.path import ReferenceMapping, avro_mapper
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import ClickHouseSink
from tests.processors.ingest.reference.test_events import CUSTOMERS_V12

CATALOG = load_catalog()
T = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 6, 2, 10, 30, 15, 250_000, tzinfo=UTC)


def events() -> list[Any]:
    """Every graph kind, with optional fields both set and left out."""
    return [
        SourceExtraction(
            "crm/export",
            "salesforce",
            "sf://acct",
            120,
            DatasetRef("raw/accounts", "v1"),
            extraction_time=T2,
            schema_fingerprint="abc",
        ),
        SourceExtraction(
            "crm/other", "pg", "pg://x", 0, DatasetRef("raw/o", "v1"), extraction_time=T
        ),
        TransformationRun(
            "label/intents",
            kind="LABEL",
            inputs=[DatasetRef("raw/tickets", "v3"), DatasetRef("raw/extra", "v1", "aux")],
            outputs=[DatasetRef("labelled/tickets", "v3", "train")],
            parameters={"votes": 3, "status": "x"},
            code_version="git:1",
            run_id="r9",
            status="FAILED",
            error_message="vendor timeout",
            annotator="acme-labelling",
            guideline_version="g2",
            masking=True,
        ),
        TransformationRun(
            "etl/clean", inputs=[], outputs=[DatasetRef("clean/t", "v1")], run_id="r10"
        ),
        CUSTOMERS_V12,
        DatasetVersion("warehouse/bare", "v1", "sha256:00", 5),
        SubjectLinks("dataset:crm/accounts@v3", "k1", ["aa", "bb"]),
        TrainingRun(
            "intent",
            "3.4.2",
            [DatasetRef("ds/train", "v1", "train"), DatasetRef("ds/test", "v1", "test")],
            run_id="t1",
            hyperparameters={"lr": 0.01, "epochs": 3},
            code_version="abc123",
            metrics={"acc": 0.93, "loss": 3.0, "small": 0.00012, "neg": -2.5, "zero": 0.0},
        ),
        TrainingRun(
            "intent", "3.5.0", [DatasetRef("ds/train", "v2")], run_id="t2", status="FAILED"
        ),
        Deployment("prod/intent-api", "prod", "intent", "3.4.2", T, T2),
        Deployment("prod/other", "staging", "intent", "3.4.2", T),
        Tag(
            "dataset:vendor/labels@v5",
            "corrupted-labels",
            incident_id="INC-7",
            record_count=2000,
            window_start=T,
            window_end=T2,
            reason="vendor audit",
        ),
        Tag("inference:p-1", "wrong", active=False),
        Tag("model:intent@3.4.2", "pii"),
    ]


def record(event: Any, offset: int, topic: str = "t.events", partition: int = 0) -> Record:
    schema = CATALOG.by_name(event.SCHEMA)
    fields = {
        "event_id": f"e{offset}",
        "event_time": T,
        "producer": "p",
        "namespace": "ns",
        **event.fields(),
    }
    return Record(topic, partition, offset, b"k", encode(schema, fields))


class Refused:
    def __init__(self) -> None:
        self.sent: list[Rejected] = []

    async def __call__(self, bad: Rejected) -> None:
        self.sent.append(bad)


def processor(store: Store, dlq: Refused | None = None) -> IngestProcessor:
    return IngestProcessor(
        ReferenceMapping(avro_mapper(CATALOG)),
        ClickHouseSink(store),
        ThreadPoolExecutor(1),
        dlq or Refused(),
        fast=FastGraphPath(GraphStage(CATALOG)),
    )


def run(proc: IngestProcessor, records: list[Record]) -> None:
    asyncio.run(proc.store(proc.prepare(records)))


async def _python_path(proc: IngestProcessor, records: list[Record]) -> None:
    proc.fast = None  # the reference path alone
    await proc.store(proc.prepare(records))


def table_rows(store: Store, table: str, topic: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` from ``topic``, sorted, JSON payloads parsed."""
    t = "topic" if table == "events_raw" else "src_topic"
    columns = [c for c in TABLES[table] if c != t]
    if table != "events_raw":
        columns += ["src_partition", "src_offset"]
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {t} = {{t:String}}"
    rows = []
    for row in store.query(sql, {"t": topic}).result_rows:
        values = [json.loads(v) if c == "payload" else v for c, v in zip(columns, row, strict=True)]
        rows.append(tuple(values))
    return sorted(rows, key=repr)


def test_clickhouse_maps_every_kind_as_python_does(store: Store) -> None:
    evs = events()
    assert {type(e).__name__ for e in evs} == set(KINDS)
    records = [record(e, i, partition=i % 2) for i, e in enumerate(evs)]
    fast = processor(store)
    run(fast, records)
    assert fast.fallbacks == 0
    again = [Record("u.events", r.partition, r.offset, r.key, r.value) for r in records]
    asyncio.run(_python_path(processor(store), again))
    for table in TABLES:
        got, want = table_rows(store, table, "t.events"), table_rows(store, table, "u.events")
        assert got == want, table
    assert len(table_rows(store, "events_raw", "t.events")) == len(evs)
    assert len(table_rows(store, "edges", "t.events")) == 15


def test_a_batch_read_again_is_not_stored_twice(store: Store) -> None:
    records = [record(e, i) for i, e in enumerate(events())]
    run(processor(store), records)
    once = {t: len(table_rows(store, t, "t.events")) for t in TABLES}
    # The same batch again, as after a crash before the commit: the tokens drop it.
    run(processor(store), records)
    assert {t: len(table_rows(store, t, "t.events")) for t in TABLES} == once
    assert (once["events_raw"], once["edges"]) == (len(records), 15)


@pytest.mark.parametrize(
    "bad",
    [
        TrainingRun("bad model", "1", [DatasetRef("ds", "v1")], run_id="x"),
        Tag("dataset:no-version-allowed@", "t"),
        SubjectLinks("job:etl@v1", "k", ["s"]),
    ],
)
def test_an_id_python_would_refuse_sends_the_batch_the_python_way(store: Store, bad: Any) -> None:
    good = [record(e, i) for i, e in enumerate(events()[:3])]
    schema = CATALOG.by_name(bad.SCHEMA)
    fields = {"event_id": "bad", "event_time": T, "producer": "p", "namespace": "ns"}
    # Encoded past the SDK's own checks, as a foreign producer might.
    raw = Record("t.events", 0, 3, b"k", encode(schema, {**fields, **_unchecked(bad)}))
    dlq = Refused()
    proc = processor(store, dlq)
    run(proc, [*good, raw])
    assert proc.fallbacks == 1
    assert [(b.record.offset, b.stage) for b in dlq.sent] == [(3, "map")]
    assert len(table_rows(store, "events_raw", "t.events")) == 3


def test_metrics_python_writes_with_exponents_go_the_python_way(store: Store) -> None:
    run_ = TrainingRun("m", "1", [], run_id="r", metrics={"tiny": 1e-05, "big": 1e16})
    proc = processor(store)
    run(proc, [record(run_, 0)])
    assert proc.fallbacks == 1
    got = store.query(
        "SELECT key, value FROM properties WHERE key LIKE 'metric.%' ORDER BY key"
    ).result_rows
    assert got == [("metric.big", "1e+16"), ("metric.tiny", "1e-05")]


def _unchecked(event: Any) -> dict[str, Any]:
    try:
        return dict(event.fields())
    except Exception:  # the SDK refuses it: build the fields as they are
        return {k: v for k, v in vars(event).items()}


@pytest.mark.parametrize("cut", [20, -3])
def test_a_truncated_record_sends_the_batch_the_python_way(store: Store, cut: int) -> None:
    good = [record(e, i) for i, e in enumerate(events()[:3])]
    truncated = Record("t.events", 0, 3, b"k", good[2].value[:cut])
    dlq = Refused()
    proc = processor(store, dlq)
    run(proc, [*good, truncated, record(events()[4], 4)])
    assert proc.fallbacks == 1
    assert [(b.record.offset, b.stage) for b in dlq.sent] == [(3, "decode")]
    assert len(table_rows(store, "events_raw", "t.events")) == 4


def test_a_record_not_in_a_current_graph_schema_is_not_staged() -> None:
    stage = GraphStage(CATALOG)
    good = [record(e, i) for i, e in enumerate(events()[:3])]
    assert stage.split(good) is not None
    confluent = Record("t.events", 0, 3, b"k", b"\x00\x00\x00\x00\x07" + good[0].value[10:])
    assert stage.split([*good, confluent]) is None
    assert GraphStage(CATALOG, max_bytes=50).split(good) is None
