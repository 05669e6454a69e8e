"""The worker's HTTP endpoints: ``/sql`` cannot write, ``/api/v1/lineage`` checks size and
content before anything reaches Kafka."""

from __future__ import annotations

import http.client
import json

import pytest
from openlineage.client.serde import Serde

from lineage_collector import DatasetRef, LineageClient
from lineage_processors.errors import QueryError
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, read_topic
from tests.e2e.test_openlineage import failed_check, post

WRITES = [
    "INSERT INTO nodes (node_id) VALUES ('dataset:evil@v1')",
    "CREATE TABLE evil (x UInt8) ENGINE = Memory",
    "DROP TABLE edges",
    "TRUNCATE TABLE events_raw",
    "ALTER TABLE nodes DELETE WHERE 1",
    "SET readonly = 0",
    "INSERT INTO FUNCTION file('evil.csv', 'CSV', 'x UInt8') VALUES (1)",
]


def table_rows(worker: WorkerProcess) -> list[list[object]]:
    return worker.query(
        "SELECT name, total_rows FROM system.tables WHERE database = currentDatabase() "
        "ORDER BY name"
    ).rows


def test_the_query_endpoint_refuses_every_write(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    """Pass: each write, DDL or SET sent to /sql is refused as read-only (ClickHouse's
    readonly setting) and every table keeps its rows; reads still work."""
    with LineageClient.from_settings(settings, namespace="ro") as client:
        for i in range(5):
            client.emit_training_run(f"m{i}", "1.0", [DatasetRef("d", f"v{i}", "train")])
    worker.wait_for("SELECT event_id FROM events_raw", 5)
    before = table_rows(worker)
    for sql in WRITES:
        with pytest.raises(QueryError) as refused:
            worker.query(sql)
        message = str(refused.value)
        assert "read-only" in message or "readonly" in message.lower(), (sql, message)
    assert table_rows(worker) == before
    assert worker.query("SELECT count() FROM events_raw").rows == [[5]]


def test_the_ingest_endpoint_checks_before_forwarding(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    """Pass: an oversize body (declared or streamed), bad JSON and an invalid event are
    refused with 413 or 400, and none of them reaches the OpenLineage topic; a valid event
    gets 201 and is the one record there."""
    good = json.loads(Serde.to_json(failed_check()))
    limit = settings.ingest_max_bytes
    assert post(settings, json.dumps(dict(good, pad="x" * limit)).encode())[0] == 413
    assert streamed_status(settings, b"{" + b" " * (limit + 10) + b"}") == 413
    assert post(settings, b"\xff\xfe not json")[0] == 400
    status, body = post(settings, json.dumps(dict(good, eventType="DONE")).encode())
    assert status == 400 and "eventType" in body["error"]
    assert post(settings, json.dumps({"run": {}}).encode())[0] == 400
    assert read_topic(settings, settings.topic_openlineage) == []

    status, body = post(settings, json.dumps(good).encode())
    assert status == 201
    [forwarded] = read_topic(settings, settings.topic_openlineage)
    assert json.loads(forwarded.value) == good


def streamed_status(settings: WorkerSettings, body: bytes) -> int:
    """POST ``body`` in chunks with no Content-Length: the limit must hold as it streams."""
    conn = http.client.HTTPConnection("127.0.0.1", settings.worker_port, timeout=30)
    try:
        conn.putrequest("POST", "/api/v1/lineage")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        step = 1 << 16
        try:
            for start in range(0, len(body), step):
                chunk = body[start : start + step]
                conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the whole body is sent
        return conn.getresponse().status
    finally:
        conn.close()
