"""With a schema registry configured: Confluent framing from the SDK, read by the worker."""

from __future__ import annotations

import struct

from confluent_kafka import Producer

from lineage_collector import DatasetRef, LineageClient
from lineage_collector.registry import SchemaRegistryClient
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, read_topic


def test_registry_framed_events_land_and_unknown_ids_go_to_the_dlq(
    settings: WorkerSettings, registry_url: str
) -> None:
    framed = settings.replace(schema_registry_url=registry_url)
    worker = WorkerProcess(framed).start()
    try:
        client = LineageClient.from_settings(framed, namespace="reg")
        client.emit_training_run(
            "ranker",
            "2.1",
            [DatasetRef("clicks", "v9", "train")],
            run_id="aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        )
        client.close()
        schema_id = SchemaRegistryClient(registry_url).register(
            "lineage.events.TrainingRun",
            client.catalog.by_name("lineage.events.TrainingRun").expanded,
        )
        raw = Producer({"bootstrap.servers": framed.kafka_bootstrap})
        # Same framing, but an id the registry never gave out: a poison record.
        raw.produce(framed.topic_events, struct.pack(">bI", 0, 987_654) + b"\x02x", b"k")
        raw.flush(10)
        edges = worker.wait_for("SELECT src, relation, dst FROM edges ORDER BY src", 2)
        assert edges.rows == [
            ["dataset:clicks@v9", "input", "run:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"],
            ["run:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "output", "model:ranker@2.1"],
        ]
    finally:
        assert worker.stop() == 0, worker.log()
    [event] = [r for r in read_topic(framed, framed.topic_events) if r.key != b"k"]
    assert event.value[:5] == struct.pack(">bI", 0, schema_id)
    [dead] = read_topic(framed, framed.topic_dlq)
    assert dead.headers["lineage.stage"] == b"decode"
    assert dead.headers["lineage.exception.message"].startswith(b"unknown schema id 987654")
