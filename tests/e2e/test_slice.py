"""The walking skeleton end to end: SDK -> real Kafka -> faust worker -> chDB -> CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from confluent_kafka import Consumer, TopicPartition

from lineage_collector import DatasetRef, LineageClient, TrainingRun
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, run_cli

RUN = "6a1d5c2e-3f0b-4c4e-9d7a-0a1b2c3d4e5f"
EVENT = "0f8e6c1a-5b4d-4e3f-8a2b-1c0d9e8f7a6b"
WHEN = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=UTC)


def emit(
    settings: WorkerSettings, event: TrainingRun, event_id: str, when: datetime = WHEN
) -> None:
    with LineageClient.from_settings(settings, namespace="test") as client:
        client.emit(event, event_id=event_id, event_time=when)


def training_run(version: str = "3.4.2", run_id: str = RUN) -> TrainingRun:
    return TrainingRun(
        "intent-classifier",
        version,
        [
            DatasetRef("warehouse/customers", "v12", "train"),
            DatasetRef("warehouse/customers", "v12-test", "test"),
        ],
        run_id=run_id,
        hyperparameters={"lr": "0.001"},
        code_version="git:abc123",
        metrics={"f1": 0.9},
    )


def test_training_run_lands_as_exact_rows(settings: WorkerSettings, worker: WorkerProcess) -> None:
    emit(settings, training_run(), EVENT)
    edges = worker.wait_for(
        "SELECT src, dst, relation, role, event_time, run_id, event_id FROM edges "
        "ORDER BY src, dst",
        3,
    )
    assert edges.rows == [
        [
            "dataset:warehouse/customers@v12",
            f"run:{RUN}",
            "input",
            "train",
            "2026-03-01T12:30:15.250000",
            RUN,
            EVENT,
        ],
        [
            "dataset:warehouse/customers@v12-test",
            f"run:{RUN}",
            "input",
            "test",
            "2026-03-01T12:30:15.250000",
            RUN,
            EVENT,
        ],
        [
            f"run:{RUN}",
            "model:intent-classifier@3.4.2",
            "output",
            "",
            "2026-03-01T12:30:15.250000",
            RUN,
            EVENT,
        ],
    ]
    nodes = worker.query(
        "SELECT node_id, kind, name, version, namespace FROM nodes ORDER BY node_id"
    )
    assert nodes.rows == [
        ["dataset:warehouse/customers@v12", "dataset", "warehouse/customers", "v12", "test"],
        [
            "dataset:warehouse/customers@v12-test",
            "dataset",
            "warehouse/customers",
            "v12-test",
            "test",
        ],
        ["model:intent-classifier@3.4.2", "model", "intent-classifier", "3.4.2", "test"],
        [f"run:{RUN}", "run", RUN, "", "test"],
    ]
    props = worker.query("SELECT node_id, key, value FROM properties ORDER BY node_id, key")
    assert props.rows == [
        ["model:intent-classifier@3.4.2", "metric.f1", "0.9"],
        [f"run:{RUN}", "code_version", "git:abc123"],
        [f"run:{RUN}", "hyperparameter.lr", "0.001"],
        [f"run:{RUN}", "status", "COMPLETED"],
    ]
    raw = worker.query(
        "SELECT event_id, kind, subject, topic, partition, offset, payload FROM events_raw"
    )
    [[event_id, kind, subject, topic, _partition, offset, payload]] = raw.rows
    assert (event_id, kind, subject, topic, offset) == (
        EVENT,
        "TrainingRun",
        "model:intent-classifier@3.4.2",
        settings.topic_events,
        0,
    )
    assert json.loads(payload)["datasets"][1] == {
        "dataset": "warehouse/customers",
        "version": "v12-test",
        "role": "test",
    }

    # The question the slice exists for, asked as a user would, while the worker holds chDB.
    answer = run_cli(settings, "upstream", "model:intent-classifier@3.4.2", "--format", "json")
    assert answer.returncode == 0, answer.stderr
    assert [(r["depth"], r["node"], r["role"]) for r in json.loads(answer.stdout)] == [
        (1, f"run:{RUN}", ""),
        (2, "dataset:warehouse/customers@v12", "train"),
        (2, "dataset:warehouse/customers@v12-test", "test"),
    ]


def committed_offsets(settings: WorkerSettings) -> dict[int, int]:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.consumer_group}
    )
    try:
        parts = [TopicPartition(settings.topic_events, p) for p in range(settings.topic_partitions)]
        return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
    finally:
        consumer.close()


def test_restart_resumes_from_committed_offset(settings: WorkerSettings) -> None:
    first = WorkerProcess(settings).start()
    emit(settings, training_run("1.0.0", RUN), EVENT)
    first.wait_for("SELECT event_id FROM events_raw", 1)
    assert first.stop() == 0, first.log()

    # The graceful stop committed the event's offset, in exactly one partition.
    offsets = committed_offsets(settings)
    assert sorted(o for o in offsets.values() if o >= 0) == [1], offsets

    # A second event arrives while no worker runs. If the restarted worker re-read the first
    # one, it would insert it again in a batch of a different shape, and the raw log would
    # hold it twice.
    second_run = "7b2e6d3f-4a1c-4d5e-8e9f-1a2b3c4d5e6f"
    second_event = "1a9f7d2b-6c5e-4f40-9b3c-2d1e0f9a8b7c"
    emit(settings, training_run("1.0.1", second_run), second_event)
    again = WorkerProcess(settings).start()
    try:
        rows = again.wait_for(
            "SELECT event_id, count() FROM events_raw GROUP BY event_id ORDER BY event_id", 2
        )
        assert rows.rows == [[EVENT, 1], [second_event, 1]]
        total = again.query("SELECT count() FROM events_raw").rows
        assert total == [[2]]
    finally:
        assert again.stop() == 0, again.log()
    assert sum(o for o in committed_offsets(settings).values() if o >= 0) == 2
