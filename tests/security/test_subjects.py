"""Personal identifiers: after a run that used them, no raw id anywhere in Kafka (the DLQ
included), ClickHouse or the logs; pseudonyms the same in every process; a missing or short
key refused before anything is sent."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer

from lineage_collector import LineageClient
from lineage_collector.errors import ConfigError
from lineage_processors.settings import WorkerSettings
from tests.conftest import REPO, WorkerProcess, read_topic

KEY = "subject-key-for-tests-" + "q" * 20
# Distinctive enough that finding one anywhere can only mean it leaked.
RAW = [f"person-{i:03d}.raw-id@example.org" for i in range(40)]


def pseudonyms_in_new_process(ids: list[str]) -> list[str]:
    code = (
        "import json, sys; from lineage_collector import LineageClient; "
        f"c = LineageClient('127.0.0.1:9', subject_key={KEY!r}); "
        "print(json.dumps([c.pseudonym(i) for i in json.loads(sys.stdin.read())]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(ids),
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return list(json.loads(done.stdout))


def test_no_raw_subject_id_reaches_kafka_the_store_the_dlq_or_the_logs(
    settings: WorkerSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Pass: 40 raw ids used in subject links and predictions appear nowhere: not in any
    record, key or header of the four topics, not in any row of any table, not in the
    worker's or the SDK's logs; their pseudonyms are stored and equal those another
    process computes with the same key."""
    settings = settings.replace(subject_key=KEY, log_level="DEBUG")
    with caplog.at_level(logging.DEBUG):
        with LineageClient.from_settings(settings, namespace="pii") as client:
            client.emit_subject_links("dataset:crm/customers@v1", RAW[:30])
            for i, raw in enumerate(RAW[30:]):
                client.emit_inference(
                    f"inf-{i}", model="churn", model_version="1.0", subject_id=raw
                )
            with client.inference_logger(batch_size=5) as logger:
                for i, raw in enumerate(RAW):
                    logger.log(f"log-{i}", model="churn", model_version="1.0", subject_id=raw)
        mine = [client.pseudonym(raw) for raw in RAW]
    # A subject record cut short, as a broken producer might send it: dead-lettered whole.
    links = read_topic(settings, settings.topic_events)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(settings.topic_events, links[0].value[:-9], links[0].key)
    producer.flush(10)

    worker = WorkerProcess(settings).start()
    try:
        worker.wait_for("SELECT DISTINCT subject FROM subject_links", 30)
        worker.wait_for("SELECT inference_id FROM inferences", 50)
        for _ in range(100):
            if read_topic(settings, settings.topic_dlq):
                break
            worker.wait_for("SELECT 1", 1)
        tables = [
            row[0]
            for row in worker.query(
                "SELECT name FROM system.tables WHERE database = currentDatabase() "
                "AND engine NOT IN ('View', 'MaterializedView')"
            ).rows
        ]
        stored = {t: json.dumps(worker.query(f"SELECT * FROM `{t}`").rows) for t in tables}
        stored_pseudonyms = {
            row[0] for row in worker.query("SELECT DISTINCT subject FROM subject_links").rows
        }
    finally:
        worker.stop()

    assert len(read_topic(settings, settings.topic_dlq)) == 1
    places = {f"table {t}": text.encode() for t, text in stored.items()}
    for topic in (
        settings.topic_events,
        settings.topic_inferences,
        settings.topic_openlineage,
        settings.topic_dlq,
    ):
        for r in read_topic(settings, topic):
            places[f"{topic}@{r.partition}:{r.offset}"] = (
                r.key + r.value + b"".join(k.encode() + v for k, v in r.headers.items())
            )
    places["worker log"] = worker.log().encode()
    places["sdk log"] = caplog.text.encode()
    assert len(places) > 20
    for raw in RAW:
        leaks = [where for where, data in places.items() if raw.encode() in data]
        assert leaks == [], f"{raw} found in {leaks}"
    assert stored_pseudonyms == set(mine[:30])
    assert pseudonyms_in_new_process(RAW) == mine  # the same person, the same pseudonym
    assert any(mine[0].encode() in data for data in places.values())


@pytest.mark.parametrize("key", ["", "too-short-key"])
def test_a_missing_or_short_subject_key_is_refused_before_sending(
    settings: WorkerSettings, key: str
) -> None:
    """Pass: emitting subjects without a usable key raises a ConfigError naming
    LINEAGE_SUBJECT_KEY (not the key), and nothing reaches Kafka."""
    settings = settings.replace(subject_key=key)
    with LineageClient.from_settings(settings, namespace="pii") as client:
        with pytest.raises(ConfigError) as refused:
            client.emit_subject_links("dataset:crm/customers@v1", RAW[:3])
        with pytest.raises(ConfigError):
            client.emit_inference("inf", model="churn", model_version="1.0", subject_id=RAW[0])
    assert "LINEAGE_SUBJECT_KEY" in str(refused.value)
    if key:
        assert key not in str(refused.value)
    assert read_topic(settings, settings.topic_events) == []
    assert read_topic(settings, settings.topic_inferences) == []
