"""Every event kind from the SDK through real Kafka into the store; subjects never in clear."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from lineage_collector import DatasetRef, InputRef, LineageClient
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, read_topic

T0 = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
KEY = "test-subject-key-0123456789abcdef0123456789"
PEOPLE = ["alice@example.com", "bob@example.com", "carol-4411"]


def emit_pipeline(client: LineageClient) -> None:
    raw = DatasetRef("crm/accounts-raw", "v1")
    clean = DatasetRef("crm/accounts", "v1")
    client.emit_source_extraction(
        "crm/export", raw, source_system="salesforce", uri="sf://accounts", record_count=3
    )
    client.emit_subject_links("source:crm/export", PEOPLE)
    with client.step(
        "etl/mask_emails", kind="CLEAN", inputs=[raw], masking=True, parameters={"hash": "sha256"}
    ) as step:
        step.add_output(clean)
    client.emit_dataset_version(
        "crm/accounts", "v1", content_hash="sha256:aa", row_count=3, splits={"train": 2, "test": 1}
    )
    client.emit_training_run(
        "churn",
        "1.0",
        [DatasetRef("crm/accounts", "v1", "train")],
        run_id="11111111-2222-4333-8444-555555555555",
    )
    client.emit_deployment(
        "prod/churn-api", environment="prod", model="churn", model_version="1.0", valid_from=T0
    )
    client.emit_tag("dataset:crm/accounts-raw@v1", "pii", reason="emails in clear")
    with client.inference_logger() as logger:
        for i, person in enumerate(PEOPLE * 100):
            logger.log(
                f"pred-{i}",
                model="churn",
                model_version="1.0",
                output="stay",
                subject_id=person,
                inputs=[InputRef("feature_row", f"row-{i % 3}")],
            )


@pytest.fixture
def sdk_settings(settings: WorkerSettings) -> WorkerSettings:
    return settings.replace(subject_key=KEY)


def test_every_kind_lands_and_no_subject_in_clear(sdk_settings: WorkerSettings) -> None:
    worker = WorkerProcess(sdk_settings).start()
    try:
        with LineageClient.from_settings(sdk_settings, namespace="crm") as client:
            emit_pipeline(client)
            pseudonyms = sorted(client.pseudonym(p) for p in PEOPLE)
        worker.wait_for("SELECT inference_id FROM inferences", 300)
        worker.wait_for("SELECT node_id FROM tags", 1)
        edges = worker.query(
            "SELECT src, relation, role, dst FROM edges FINAL "
            "WHERE relation != 'job' ORDER BY src, dst"
        ).rows
        run = next(r[3] for r in edges if r[0] == "dataset:crm/accounts-raw@v1")
        assert edges == sorted(
            [
                ["source:crm/export", "extracted", "", "dataset:crm/accounts-raw@v1"],
                ["dataset:crm/accounts-raw@v1", "input", "", run],
                [run, "output", "", "dataset:crm/accounts@v1"],
                [
                    "dataset:crm/accounts@v1",
                    "input",
                    "train",
                    "run:11111111-2222-4333-8444-555555555555",
                ],
                ["run:11111111-2222-4333-8444-555555555555", "output", "", "model:churn@1.0"],
                ["model:churn@1.0", "deployed", "", "deployment:prod/churn-api"],
            ]
        )
        facts = dict(
            worker.query(
                "SELECT key, value FROM properties FINAL WHERE node_id = {n:String}", {"n": run}
            ).rows
        )
        assert (facts["status"], facts["masking"], facts["param.hash"]) == (
            "COMPLETED",
            "true",
            "sha256",
        )
        links = worker.query("SELECT subject, node_id FROM subject_links ORDER BY subject").rows
        assert links == [[p, "source:crm/export"] for p in pseudonyms]
        per_subject = worker.query(
            "SELECT subject, count() FROM inferences GROUP BY subject ORDER BY subject"
        ).rows
        assert per_subject == [[p, 100] for p in pseudonyms]
        store_text = " ".join(
            str(v)
            for table in (
                "events_raw",
                "nodes",
                "properties",
                "edges",
                "subject_links",
                "inferences",
            )
            for row in worker.query(f"SELECT * FROM {table}").rows
            for v in row
        )
    finally:
        assert worker.stop() == 0, worker.log()
    kafka_bytes = b"".join(
        r.key + r.value + b"".join(r.headers.values())
        for topic in (
            sdk_settings.topic_events,
            sdk_settings.topic_inferences,
            sdk_settings.topic_dlq,
        )
        for r in read_topic(sdk_settings, topic)
    )
    for person in PEOPLE:
        assert person not in store_text
        assert person.encode() not in kafka_bytes
        assert person not in worker.log()
    assert pseudonyms[0].encode() in kafka_bytes  # the scan did see the subjects' records


def test_decorated_step_records_its_failure(
    sdk_settings: WorkerSettings, worker: WorkerProcess
) -> None:
    client = LineageClient.from_settings(sdk_settings)

    @client.step(
        "etl/normalise",
        kind="CLEAN",
        inputs=[DatasetRef("raw/x", "v1")],
        parameters={"lowercase": True},
    )
    def normalise() -> None:
        raise RuntimeError("column 'email' missing")

    with pytest.raises(RuntimeError, match="column 'email' missing"):
        normalise()
    client.close()
    rows = worker.wait_for(
        "SELECT node_id FROM properties FINAL WHERE key = 'status' AND value = 'FAILED'", 1
    )
    run = rows.rows[0][0]
    facts = dict(
        worker.query(
            "SELECT key, value FROM properties FINAL WHERE node_id = {n:String}", {"n": run}
        ).rows
    )
    assert facts["error_message"] == "RuntimeError: column 'email' missing"
    assert facts["param.lowercase"] == "True" and facts["kind"] == "CLEAN"
    # events_raw is written last in a batch: wait for it rather than read it once.
    started = worker.wait_for(
        "SELECT event_id FROM events_raw WHERE subject = {n:String}", 2, params={"n": run}
    )
    assert len(started.rows) == 2  # STARTED, then FAILED


def test_pseudonyms_are_stable_across_processes(sdk_settings: WorkerSettings) -> None:
    code = (
        "from lineage_collector import LineageClient; "
        f"print(LineageClient('127.0.0.1:9', subject_key={KEY!r}).pseudonym('alice'))"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert first.stdout == second.stdout and len(first.stdout.strip()) == 64


def test_unknown_fingerprint_goes_to_the_dlq_and_neighbours_land(
    sdk_settings: WorkerSettings, worker: WorkerProcess
) -> None:
    from confluent_kafka import Producer

    raw = Producer({"bootstrap.servers": sdk_settings.kafka_bootstrap})
    key = b"model:churn@9.9"  # one key: the poison record sits between two good ones
    client = LineageClient.from_settings(sdk_settings)
    first = client.emit_training_run("churn", "9.9", [DatasetRef("a", "v1")])
    client.flush()
    raw.produce(sdk_settings.topic_events, b"\xc3\x01" + b"\xee" * 8 + b"\x02\x04", key)
    raw.flush(10)
    second = client.emit_training_run("churn", "9.9", [DatasetRef("b", "v1")])
    client.close()
    stored = worker.wait_for("SELECT event_id FROM events_raw ORDER BY offset", 2)
    assert stored.rows == [[first], [second]]
    [dead] = read_topic(sdk_settings, sdk_settings.topic_dlq)
    assert dead.key == key
    assert dead.value == b"\xc3\x01" + b"\xee" * 8 + b"\x02\x04"
    assert dead.headers["lineage.stage"] == b"decode"
    assert dead.headers["lineage.exception.class"] == b"DecodeError"
    assert dead.headers["lineage.original.topic"] == sdk_settings.topic_events.encode()
    assert dead.headers["lineage.exception.message"].startswith(
        b"unknown schema fingerprint eeeeeeeeeeeeeeee"
    )
