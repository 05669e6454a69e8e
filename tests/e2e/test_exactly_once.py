"""Exactly once into ClickHouse, across crashes, replays and a store that goes away.

Each test produces events with known ids into real Kafka, lets a real worker (or a series of
them, killed on the way) store them in chDB, and then counts rows: every event exactly once
in raw counts and under FINAL.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from collector import DatasetRef, LineageClient
from collector.config import Settings
from tests.conftest import REPO, WorkerProcess, child_env, read_topic

PREDICTIONS_PER_MODEL = 150


def emit_training_runs(settings: Settings, first: int, count: int) -> None:
    """``count`` training runs, numbered from ``first``: 1 raw event and 3 edges each."""
    with LineageClient.from_settings(settings, namespace="eo") as client:
        for i in range(first, first + count):
            client.emit_training_run(
                f"m{i % 7}",
                f"1.{i}",
                [DatasetRef(f"d{i % 5}", f"v{i}", "train"), DatasetRef("shared", "v1", "test")],
                run_id=str(uuid.UUID(int=i)),
            )


def log_predictions(settings: Settings, models: range) -> None:
    """PREDICTIONS_PER_MODEL predictions for each model version: InferenceBatch records."""
    with LineageClient.from_settings(settings, namespace="eo") as client:
        logger = client.inference_logger(batch_size=50)
        for m in models:
            for i in range(PREDICTIONS_PER_MODEL):
                logger.log(f"p{m}-{i}", model="m", model_version=f"2.{m}", output="ok")
        logger.close()


def counts(worker: WorkerProcess) -> dict[str, int]:
    """Raw and FINAL row counts, and distinct keys, of the tables the events fill."""
    sql = """
        SELECT
            (SELECT count() FROM events_raw),
            (SELECT count() FROM events_raw FINAL),
            (SELECT uniqExact(event_id) FROM events_raw),
            (SELECT count() FROM edges),
            (SELECT count() FROM edges FINAL),
            (SELECT count() FROM inferences),
            (SELECT count() FROM inferences FINAL),
            (SELECT uniqExact(inference_id) FROM inferences)
    """
    names = ("raw", "raw_final", "raw_ids", "edges", "edges_final", "inf", "inf_final", "inf_ids")
    return dict(zip(names, worker.query(sql).rows[0], strict=True))


def expected(events: int, models: int) -> dict[str, int]:
    inferences = models * PREDICTIONS_PER_MODEL
    return dict(
        raw=events,
        raw_final=events,
        raw_ids=events,
        edges=3 * events,
        edges_final=3 * events,
        inf=inferences,
        inf_final=inferences,
        inf_ids=inferences,
    )


def wait_for_counts(worker: WorkerProcess, want: dict[str, int], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    got = counts(worker)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.3)
        got = counts(worker)
    assert got == want, f"got {got}, want {want}\nworker log:\n{worker.log()}"


def partitions(consumer: Consumer, topic: str) -> list[int]:
    # Topics the SDK wrote to before any worker ran were auto-created with the broker's
    # default partition count, not ours: ask.
    return sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)


def committed(settings: Settings, topic: str) -> dict[int, int]:
    """The worker group's committed offset of each partition of ``topic`` (-1: none)."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.consumer_group}
    )
    try:
        parts = [TopicPartition(topic, p) for p in partitions(consumer, topic)]
        return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
    finally:
        consumer.close()


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "ends"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions(consumer, topic)
        }
    finally:
        consumer.close()


def wait_for_commits(settings: Settings, topic: str, timeout: float = 30) -> dict[int, int]:
    """The group's committed offsets once they reach the end of ``topic``."""
    deadline = time.monotonic() + timeout
    ends = end_offsets(settings, topic)
    while (got := committed(settings, topic)) != ends:
        assert time.monotonic() < deadline, f"committed {got}, end offsets {ends}"
        time.sleep(0.2)
    return got


def run_until_killed(settings: Settings, log: Path, timeout: float = 60) -> int:
    """Run a worker that is set to kill itself; returns its exit status."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "processors.cli", "worker"],
            env=child_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"not killed in {timeout}s:\n{log.read_text()}") from None


def test_a_crash_between_insert_and_commit_writes_nothing_twice(settings: Settings) -> None:
    """The worker dies right after storing a batch and before committing it, twice, each
    time with another batch size; the restarted workers read those records again in other
    batches and store every event exactly once."""
    emit_training_runs(settings, 0, 400)
    log_predictions(settings, range(6))
    log = settings.state_dir / "killed.log"
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    # First a batch of up to 100 graph events, then of 30: the replays are cut elsewhere.
    for batch_size, kill_after in ((1000, 1), (300, 3)):
        crashed = settings.replace(batch_size=batch_size, fault_kill_after_store=kill_after)
        assert run_until_killed(crashed, log) == -signal.SIGKILL
    assert log.read_text().count("killing the worker before its commit") == 2
    worker = WorkerProcess(settings.replace(batch_size=700)).start()
    try:
        wait_for_counts(worker, expected(400, 6))
        assert "stored already" in worker.log(), worker.log()
    finally:
        worker.stop()


class Flow:
    """Events produced from a thread, rounds of 50 training runs and two model versions'
    predictions, until :meth:`stop`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.events = 0
        self.models = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            emit_training_runs(self.settings, self.events, 50)
            self.events += 50
            log_predictions(self.settings, range(self.models, self.models + 2))
            self.models += 2
            time.sleep(0.2)

    def stop(self) -> tuple[int, int]:
        """Stop after the round in progress; returns the events and model versions sent."""
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive()
        return self.events, self.models


def test_sigkill_while_events_flow_loses_and_duplicates_nothing(settings: Settings) -> None:
    """Three workers in a row are SIGKILLed at random moments while events keep coming; a
    fourth runs to the end. Every event is stored exactly once."""
    rnd = random.Random(7)
    settings = settings.replace(batch_size=2000)
    flow = Flow(settings)
    try:
        for _ in range(3):
            worker = WorkerProcess(settings).start()
            time.sleep(rnd.uniform(0.5, 2.0))
            assert worker.proc is not None
            worker.proc.send_signal(signal.SIGKILL)
            worker.proc.wait()
    finally:
        events, models = flow.stop()
    worker = WorkerProcess(settings).start()
    try:
        wait_for_counts(worker, expected(events, models), timeout=120)
    finally:
        worker.stop()


def test_a_store_that_refuses_writes_holds_commits_and_loses_nothing(
    settings: Settings, worker: WorkerProcess
) -> None:
    """The store's folder is made immutable, so every insert fails; the worker retries with
    backoff and commits nothing. Once writable again, every event lands exactly once."""
    emit_training_runs(settings, 0, 100)
    wait_for_counts(worker, expected(100, 0))
    before = wait_for_commits(settings, settings.topic_events)
    store = settings.state_dir / "chdb" / "store"
    subprocess.run(["chattr", "-R", "+i", str(store)], check=True)
    try:
        emit_training_runs(settings, 100, 100)
        log_predictions(settings, range(3))
        deadline = time.monotonic() + 60
        while worker.log().count("store unavailable, retrying") < 3:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.3)
        assert committed(settings, settings.topic_events) == before
        assert counts(worker)["raw"] == 100
    finally:
        subprocess.run(["chattr", "-R", "-i", str(store)], check=True)
    wait_for_counts(worker, expected(200, 3))
    wait_for_commits(settings, settings.topic_events)


def test_replays_and_duplicates_collapse(settings: Settings) -> None:
    """A second consumer group re-reads every topic from the start into the same store:
    nothing is written twice. An event produced twice (same event_id) counts once under
    FINAL."""
    emit_training_runs(settings, 0, 120)
    log_predictions(settings, range(4))
    worker = WorkerProcess(settings).start()
    try:
        wait_for_counts(worker, expected(120, 4))
    finally:
        worker.stop()
    replay = settings.replace(consumer_group=f"{settings.consumer_group}-replay")
    worker = WorkerProcess(replay).start()
    try:
        wait_for_commits(replay, replay.topic_events, timeout=60)
        wait_for_commits(replay, replay.topic_inferences, timeout=60)
        assert counts(worker) == expected(120, 4)
        # The same event once more, as a producer retry would send it.
        [first] = [r for r in read_topic(replay, replay.topic_events) if r.offset == 0][:1]
        raw = Producer({"bootstrap.servers": replay.kafka_bootstrap})
        raw.produce(replay.topic_events, first.value, first.key, partition=first.partition)
        raw.flush(10)
        worker.wait_for("SELECT 1 FROM events_raw GROUP BY event_id HAVING count() = 2", 1)
        got = counts(worker)
        assert got["raw"] == 121 and got["raw_final"] == 120 and got["edges_final"] == 360
    finally:
        worker.stop()


def test_poison_records_go_to_the_dlq_with_headers_and_neighbours_land(
    settings: Settings,
) -> None:
    """Truncated Avro, an unknown fingerprint, a record of the wrong types and one over the
    size limit each go to the DLQ once, with their headers; the good records around them
    on the same partition are stored."""
    # Five good events, encoded by the SDK into a scratch topic and copied from there.
    scratch = settings.replace(topic_events=f"{settings.topic_events}.scratch")
    emit_training_runs(scratch, 0, 5)
    goods = read_topic(scratch, scratch.topic_events)
    good = goods[0]
    header, body = good.value[:10], good.value[10:]
    poison = {
        "truncated": good.value[:-7],
        "unknown fingerprint": b"\xc3\x01" + b"\x11" * 8 + body,
        # The first field is a string; these bytes are not UTF-8.
        "wrong types": header + b"\x04\xff\xfe" + body[37:],
        "oversize": good.value + b"\x00" * 4096,
    }
    settings = settings.replace(max_event_bytes=4096)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    # good, poison, good, poison, ..., good: all on partition 0, in this order.
    for g, (name, value) in zip(goods, [*poison.items(), ("", b"")], strict=True):
        producer.produce(settings.topic_events, g.value, g.key, partition=0)
        if value:
            producer.produce(
                settings.topic_events, value, g.key, partition=0, headers=[("case", name.encode())]
            )
    producer.flush(10)
    worker = WorkerProcess(settings).start()
    try:
        stored = worker.wait_for("SELECT offset FROM events_raw ORDER BY offset", 5)
        deadline = time.monotonic() + 30
        while len(read_topic(settings, settings.topic_dlq)) < len(poison):
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.3)
    finally:
        worker.stop()
    dead = read_topic(settings, settings.topic_dlq)
    assert sorted(d.value for d in dead) == sorted(poison.values())
    by_value = {d.value: d.headers for d in dead}
    offsets = []
    for value in poison.values():
        headers = by_value[value]
        assert headers["lineage.original.topic"] == settings.topic_events.encode()
        assert headers["lineage.original.partition"] == b"0"
        assert headers["lineage.exception.message"]
        offsets.append(int(headers["lineage.original.offset"]))
    assert offsets == [1, 3, 5, 7]
    assert stored.rows == [[0], [2], [4], [6], [8]]
    stage = {name: by_value[v]["lineage.stage"] for name, v in poison.items()}
    assert stage == {
        "truncated": b"decode",
        "unknown fingerprint": b"decode",
        "wrong types": b"decode",
        "oversize": b"size",
    }
    assert by_value[poison["unknown fingerprint"]]["lineage.exception.class"] == b"DecodeError"
    assert b"LINEAGE_MAX_EVENT_BYTES" in by_value[poison["oversize"]]["lineage.exception.message"]

    # Read the topic again from the start, as a new consumer group: every record is
    # recognised as stored or dead-lettered already, so neither table nor DLQ grows.
    replay = settings.replace(consumer_group=f"{settings.consumer_group}-replay")
    worker = WorkerProcess(replay).start()
    try:
        wait_for_commits(replay, replay.topic_events)
        letters = worker.query(
            "SELECT src_offset, stage, error_class, record_bytes FROM dead_letters "
            "ORDER BY src_offset"
        ).rows
        assert [r[:2] for r in letters] == [
            [1, "decode"],
            [3, "decode"],
            [5, "decode"],
            [7, "size"],
        ]
        assert letters[3][3] == len(poison["oversize"])
        assert worker.query("SELECT count() FROM events_raw").rows == [[5]]
    finally:
        worker.stop()
    assert len(read_topic(settings, settings.topic_dlq)) == len(poison)


def test_a_dlq_that_refuses_stops_commits_until_it_takes_the_record(settings: Settings) -> None:
    """The DLQ topic refuses records over 200 bytes; a poison record of 600 stops the worker
    before it commits anything past it. With the limit raised, a new worker dead-letters
    it and stores its neighbours."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(settings.topic_dlq, 1, 1, config={"max.message.bytes": "200"})])[
        settings.topic_dlq
    ].result()
    scratch = settings.replace(topic_events=f"{settings.topic_events}.scratch")
    emit_training_runs(scratch, 0, 2)
    goods = read_topic(scratch, scratch.topic_events)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(settings.topic_events, goods[0].value, b"k", partition=0)
    producer.produce(settings.topic_events, b"\xc3\x01" + b"\x22" * 600, b"k", partition=0)
    producer.produce(settings.topic_events, goods[1].value, b"k", partition=0)
    producer.flush(10)
    log = settings.state_dir / "refused.log"
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    status = run_until_killed(settings, log)
    assert status != 0
    assert f"dead-letter topic {settings.topic_dlq} refused" in log.read_text(), log.read_text()
    # Nothing committed (-1001), or at most up to the poison record, never past it.
    assert committed(settings, settings.topic_events)[0] < 2
    assert read_topic(settings, settings.topic_dlq) == []
    raised = ConfigEntry(
        "max.message.bytes", "1048588", incremental_operation=AlterConfigOpType.SET
    )
    dlq = ConfigResource(
        ConfigResource.Type.TOPIC, settings.topic_dlq, incremental_configs=[raised]
    )
    admin.incremental_alter_configs([dlq])[dlq].result()
    worker = WorkerProcess(settings).start()
    try:
        stored = worker.wait_for("SELECT offset FROM events_raw ORDER BY offset", 2)
        assert stored.rows == [[0], [2]]
        [dead] = read_topic(settings, settings.topic_dlq)
        assert dead.headers["lineage.original.offset"] == b"1"
    finally:
        worker.stop()
