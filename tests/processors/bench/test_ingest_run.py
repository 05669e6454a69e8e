"""A bench's own topics, group, store and port: made on the configured Kafka, removed after."""

from __future__ import annotations

import time

from confluent_kafka.admin import AdminClient

from lineage_processors.bench.ingest_run import IngestRun
from lineage_processors.settings import WorkerSettings
from lineage_processors.worker.topics import topic_names


def topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def gone(names: list[str], bootstrap: str, timeout: float = 30) -> bool:
    """True once none of ``names`` is listed: a deleted topic leaves the metadata a moment
    after the deletion is acknowledged."""
    deadline = time.monotonic() + timeout
    while set(names) & topics(bootstrap):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_run_of_its_own_and_nothing_left_after_it(settings: WorkerSettings) -> None:
    run = IngestRun.create(settings, "graph")
    mine = topic_names(run.settings)
    try:
        assert run.directory.parent == (settings.state_dir / "bench").resolve()
        assert run.settings.state_dir == run.directory
        assert not set(mine) & set(topic_names(settings))  # none of the user's topics
        assert set(mine) <= topics(settings.kafka_bootstrap)
        assert run.settings.consumer_group != settings.consumer_group
        assert run.settings.worker_port != settings.worker_port
        assert run.settings.clickhouse_url == ""  # its own embedded store
        assert (run.topic, run.table) == (run.settings.topic_events, "events_raw")
        run.directory.mkdir(parents=True, exist_ok=True)
    finally:
        run.close()
    assert gone(mine, settings.kafka_bootstrap)
    assert not run.directory.exists()


def test_an_inference_run_reads_its_inference_topic_and_a_kept_run_stays(
    settings: WorkerSettings,
) -> None:
    run = IngestRun.create(settings, "inferences")
    assert (run.topic, run.table) == (run.settings.topic_inferences, "inferences")
    run.directory.mkdir(parents=True, exist_ok=True)
    run.close(keep=True)  # kept for a look after a failure
    assert set(topic_names(run.settings)) <= topics(settings.kafka_bootstrap)
    assert run.directory.exists()
