"""A lineage with every event kind, as Kafka records, and the store's state read back table by
table: what the replay and ordering scenarios (8, 9) send and compare.

The lineage is the demo's story (source extractions, transformations, a dataset version,
training runs, deployments, subject links, predictions and a tag), plus a single prediction
event and OpenLineage run events, encoded once by the SDK and then copied as bytes, so that
every store that gets them gets the very same records.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from lineage_collector import LineageClient
from lineage_collector.security import Secret
from lineage_processors.cli.demo_story import DEMO_SUBJECT_KEY, at, emit_story
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, read_topic
from tests.faults.test_poison_fuzz import OL_EVENT

# Columns that say where and when a row was written, not what it says: Kafka coordinates
# and wall-clock times differ between two stores holding the same lineage.
WHERE_AND_WHEN = frozenset(
    {"topic", "partition", "offset", "ingested_at", "src_topic", "src_partition", "src_offset"}
    | {"updated_at", "dead_at", "at", "written_at"}
)
# Tables whose every row comes from one record: raw counts are fixed by what was consumed.
INGEST_TABLES = (
    "events_raw",
    "nodes",
    "properties",
    "edges",
    "subject_links",
    "inferences",
    "tags",
    "deployments",
    "column_edges",
    "dead_letters",
)
DERIVED_TABLES = ("model_training", "tag_impacts")
VIEWS = ("attributions", "active_tag_impacts", "affected_predictions")


@dataclass(frozen=True)
class Message:
    """One record to send: which input topic (events, inferences, openlineage), key, value."""

    kind: str
    key: bytes
    value: bytes


def openlineage_run(i: int, state: str) -> bytes:
    """An event of OpenLineage run ``i``: its START, or its COMPLETE a minute later. Both
    state the run's edges, nodes and status: the edges must keep the START's time and the
    rest the COMPLETE's, whichever arrives first."""
    when = at(30) + timedelta(hours=i, minutes=1 if state == "COMPLETE" else 0)
    event = {
        **OL_EVENT,
        "eventType": state,
        "eventTime": when.isoformat().replace("+00:00", "Z"),
        "run": {"runId": str(uuid.UUID(int=5000 + i))},
        "job": {"namespace": "airflow", "name": f"export.task{i}"},
        "inputs": [{"namespace": "postgres://db", "name": f"crm.table{i}"}],
        "outputs": [{"namespace": "s3://lake", "name": f"exports/table{i}"}],
    }
    return json.dumps(event).encode()


def story(scratch: WorkerSettings) -> list[Message]:
    """The records of the story in the order it happened."""
    scratch = scratch.replace(subject_key=Secret(DEMO_SUBJECT_KEY))
    emit_story(scratch)
    with LineageClient.from_settings(scratch, namespace="demo") as client:
        # One prediction by itself, naming only its deployment.
        client.emit_inference(
            "single-1",
            deployment="prod/intent-api",
            output="refund",
            subject_id="customer-00001",
            event_time=at(45),
        )
    records = [
        Message(kind, r.key, r.value)
        for kind, topic in (
            ("events", scratch.topic_events),
            ("inferences", scratch.topic_inferences),
        )
        for r in sorted(read_topic(scratch, topic), key=lambda r: (r.offset, r.partition))
    ]
    for i in range(3):
        for state in ("START", "COMPLETE"):
            key = f"job:airflow/export.task{i}".encode()
            records.append(Message("openlineage", key, openlineage_run(i, state)))
    return records


def topic_of(settings: WorkerSettings, kind: str) -> str:
    return {
        "events": settings.topic_events,
        "inferences": settings.topic_inferences,
        "openlineage": settings.topic_openlineage,
    }[kind]


def columns(worker: WorkerProcess, table: str, left_out: frozenset[str]) -> list[str]:
    rows = worker.query(
        "SELECT name FROM system.columns WHERE database = currentDatabase() "
        "AND table = {t:String} ORDER BY position",
        {"t": table},
    ).rows
    return [str(r[0]) for r in rows if r[0] not in left_out]


def contents(worker: WorkerProcess) -> dict[str, list[list[object]]]:
    """Every table and view of the graph as FINAL sees it, less where and when rows were
    written, in a fixed order; model closures merged as ClickHouse merges them. Which
    event a row names as its source is compared too: of several stating the same fact,
    the store keeps the same one whatever order they came in."""
    out: dict[str, list[list[object]]] = {}
    for table in (*INGEST_TABLES, *DERIVED_TABLES, *VIEWS):
        names = ", ".join(columns(worker, table, WHERE_AND_WHEN))
        final = "" if table in VIEWS else " FINAL"
        out[table] = worker.query(f"SELECT {names} FROM {table}{final} ORDER BY {names}").rows
    out["model_upstream"] = worker.query(
        "SELECT model_node, ancestor_kind, ancestor, min(depth), min(since) FROM model_upstream "
        "GROUP BY ALL ORDER BY ALL"
    ).rows
    return out


def raw_counts(worker: WorkerProcess) -> dict[str, int]:
    """Rows in each ingest table, FINAL or not: a duplicate shows here first."""
    return {t: int(worker.query(f"SELECT count() FROM {t}").rows[0][0]) for t in INGEST_TABLES}


def settled(
    worker: WorkerProcess, predictions: int, timeout: float = 120
) -> dict[str, list[list[object]]]:
    """The store's contents once every prediction is in and attributed, the incident has
    reached the models and two reads 3 s apart agree."""
    deadline = time.monotonic() + timeout
    previous: dict[str, list[list[object]]] | None = None
    while True:
        now = contents(worker)
        attributed = worker.query("SELECT count() FROM inferences FINAL WHERE resolved = 1").rows
        done = attributed == [[predictions]] and len(now["active_tag_impacts"]) > 0
        if done and now == previous:
            return now
        assert time.monotonic() < deadline, f"never settled: {attributed}\n{worker.log()[-4000:]}"
        previous = now if done else None
        time.sleep(3)
