"""Scenario 7, the Kafka part: poison records of every kind, interleaved with good ones on
all three input topics, each go to the DLQ once; the worker stores the good ones, moves its
offsets past everything and never crashes. And when the DLQ itself refuses a record, nothing
past it is committed until it takes it."""

from __future__ import annotations

import json
import random
import struct
import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from lineage_processors.settings import WorkerSettings
from tests.conftest import Read, WorkerProcess, read_topic
from tests.faults.conftest import full_size, sized
from tests.faults.helpers import (
    Outcome,
    committed,
    metric_total,
    run_until_killed,
    wait_for_commits,
)
from tests.faults.load import PATIENCE
from tests.faults.test_poison_fuzz import OL_EVENT
from tests.faults.workload import PREDICTIONS_PER_MODEL, emit_training_runs, log_predictions

LIMIT = 4096  # LINEAGE_MAX_EVENT_BYTES of this test: the oversize record is past it


def ordered_producer(settings: WorkerSettings) -> Producer:
    """A producer that writes a partition's records once each, in the order produced, even
    when a request is retried (a slow broker under load): the offsets this module expects
    hold by construction."""
    return Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True})


def ol_event(i: int) -> bytes:
    return json.dumps({**OL_EVENT, "run": {"runId": str(uuid.UUID(int=1000 + i))}}).encode()


def avro_poison(good: bytes, rnd: random.Random) -> dict[str, bytes]:
    """Bad variants of one good single-object-encoded event, by what is wrong with them."""
    header, body = good[:10], good[10:]
    return {
        "truncated": good[:-7],
        "bad magic": b"\xc3\x02" + good[2:],
        "unknown fingerprint": b"\xc3\x01" + b"\x11" * 8 + body,
        # Confluent framing with a schema id no registry of ours knows (none is configured).
        "unknown schema id": struct.pack(">bI", 0, 424242) + body,
        # The first field is a string; these bytes are not UTF-8.
        "wrong types": header + b"\x04\xff\xfe" + body[37:],
        "oversize": good + b"\x00" * LIMIT,
        "random bytes": b"\x7f" + rnd.randbytes(200),
    }


def ol_poison(rnd: random.Random) -> dict[str, bytes]:
    """Malformed OpenLineage events: not JSON, not an object, fields missing or mistyped."""
    return {
        "ol cut short": ol_event(99)[:40],
        "ol not an object": b"[1, 2, 3]",
        "ol without a run": json.dumps({k: v for k, v in OL_EVENT.items() if k != "run"}).encode(),
        "ol wrong types": json.dumps({**OL_EVENT, "inputs": 5, "job": "x"}).encode(),
        "ol not utf-8": b'{"eventType": "\xff\xfe"}',
        "ol random bytes": rnd.randbytes(120),
    }


def interleave(
    producer: Producer, topic: str, goods: list[bytes], poison: dict[str, bytes]
) -> None:
    """good, poison, good, poison, ..., good, good: all on partition 0 in this order, so
    poison sits at the odd offsets 1, 3, ... and good records at the others."""
    assert len(goods) > len(poison)
    cases = list(poison.items())
    for i, good in enumerate(goods):
        producer.produce(topic, good, b"k", partition=0)
        if i < len(cases):
            name, value = cases[i]
            producer.produce(topic, value, b"k", partition=0, headers=[("case", name.encode())])


def test_scenario7_poison_of_every_kind_dead_lettered_once_neighbours_stored_worker_lives(
    settings: WorkerSettings, request: pytest.FixtureRequest
) -> None:
    """Scenario 7 (Kafka). Pass: truncated Avro, a bad magic byte, an unknown fingerprint,
    an unknown schema id, wrong types, an oversize record, random bytes and malformed
    OpenLineage JSON, each between good records, reach the DLQ exactly once with headers
    naming where they came from and why; every good record is stored, the group's offsets
    reach the end of every topic, the DLQ metric on /metrics equals the injected count, and
    the worker is still running. A replay by a new group sends nothing to the DLQ again."""
    if full_size():
        # Its offsets hold by construction (an idempotent producer keeps order); the full
        # run (`make faults`) shows it beside the CPU hog too.
        request.getfixturevalue("cpu_hog")
    rnd = random.Random(7)
    # Good events, encoded by the SDK into scratch topics and copied from there.
    scratch = settings.replace(
        topic_events=f"{settings.topic_events}.scratch",
        topic_inferences=f"{settings.topic_inferences}.scratch",
    )
    emit_training_runs(scratch, 0, sized(8, 40))
    log_predictions(scratch, range(2))
    goods = [r.value for r in read_topic(scratch, scratch.topic_events)]
    inference_goods = [r.value for r in read_topic(scratch, scratch.topic_inferences)]
    predictions = 2 * PREDICTIONS_PER_MODEL
    poison = avro_poison(goods[0], rnd)
    inference_poison = {
        "inference truncated": inference_goods[0][:-11],
        "inference random bytes": b"\xc3\x01" + rnd.randbytes(90),
    }
    ol = ol_poison(rnd)
    ol_goods = [ol_event(i) for i in range(len(goods))]
    settings = settings.replace(max_event_bytes=LIMIT)
    producer = ordered_producer(settings)
    interleave(producer, settings.topic_events, goods, poison)
    interleave(producer, settings.topic_inferences, inference_goods, inference_poison)
    interleave(producer, settings.topic_openlineage, ol_goods, ol)
    assert producer.flush(PATIENCE) == 0
    injected = {**poison, **inference_poison, **ol}
    topics = [settings.topic_events, settings.topic_inferences, settings.topic_openlineage]

    worker = WorkerProcess(settings).start()
    try:
        stored = worker.wait_for(
            "SELECT topic, offset FROM events_raw ORDER BY topic, offset",
            2 * len(goods),
            timeout=PATIENCE,
        )
        deadline = time.monotonic() + PATIENCE
        while len(read_topic(settings, settings.topic_dlq)) < len(injected):
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.3)
        for topic in topics:
            wait_for_commits(settings, topic, PATIENCE)  # offsets advanced past every record
        # Counted once a batch is committed: wait for the last one's count.
        deadline = time.monotonic() + PATIENCE
        while metric_total(settings, "lineage_events_dead_lettered_total") < len(injected):
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.3)
        dead_lettered = metric_total(settings, "lineage_events_dead_lettered_total")
        failed = metric_total(settings, "lineage_events_failed_total")
        [[rows, ids]] = worker.query("SELECT count(), uniqExact(inference_id) FROM inferences").rows
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()
    finally:
        worker.stop()
    assert "Traceback" not in worker.log(), worker.log()

    dead = read_topic(settings, settings.topic_dlq)
    outcome = Outcome(
        "7 poison (Kafka)",
        events=2 * len(goods) + predictions + len(injected),
        faults=len(injected),
        lost=2 * len(goods) - len(stored.rows) + predictions - ids,
        duplicates=rows - ids + len(dead) - len({d.value for d in dead}),
    )
    print(outcome.line())
    assert (outcome.lost, outcome.duplicates) == (0, 0), outcome.line()
    assert (dead_lettered, failed) == (len(injected), len(injected))
    assert sorted(d.value for d in dead) == sorted(injected.values())
    assert stored.rows == sorted(
        [[settings.topic_events, o] for o in good_offsets(len(goods), len(poison))]
        + [[settings.topic_openlineage, o] for o in good_offsets(len(ol_goods), len(ol))]
    )
    by_value = {d.value: d for d in dead}
    for topic, cases in zip(topics, (poison, inference_poison, ol), strict=True):
        # Each names where it came from: its topic, partition 0 and its odd offset.
        assert [dlq_offset(by_value[v], topic) for v in cases.values()] == [
            2 * i + 1 for i in range(len(cases))
        ]
    stage = {name: by_value[v].headers["lineage.stage"] for name, v in injected.items()}
    refused_as = {
        "ol without a run": b"map",
        "ol wrong types": b"map",
        "oversize": b"size",
    }
    assert stage == {name: refused_as.get(name, b"decode") for name in injected}
    exception = {n: by_value[v].headers["lineage.exception.class"] for n, v in injected.items()}
    assert exception["unknown fingerprint"] == b"DecodeError"
    assert exception["unknown schema id"] == b"DecodeError"
    assert exception["oversize"] == b"RecordTooLargeError"
    assert exception["ol cut short"] == b"OpenLineageDecodeError"
    # Refused as poison by our own checks, never by a fault inside a mapper.
    assert set(exception.values()) <= {
        b"DecodeError",
        b"RecordTooLargeError",
        b"OpenLineageDecodeError",
        b"OpenLineageError",
    }, exception
    assert all(by_value[v].headers["lineage.exception.message"] for v in injected.values())
    oversize_message = by_value[poison["oversize"]].headers["lineage.exception.message"]
    assert b"LINEAGE_MAX_EVENT_BYTES" in oversize_message

    # Read every topic again from the start, as a new consumer group: every record is
    # recognised as stored or dead-lettered already, so neither the store nor the DLQ grows.
    replay = settings.replace(consumer_group=f"{settings.consumer_group}-replay")
    worker = WorkerProcess(replay).start()
    try:
        for topic in topics:
            wait_for_commits(replay, topic, PATIENCE)
        letters = worker.query(
            "SELECT src_topic, src_offset, stage, record_bytes FROM dead_letters "
            "ORDER BY src_topic, src_offset"
        ).rows
        assert len(letters) == len(injected)
        [oversize] = [r for r in letters if r[2] == "size"]
        assert oversize == [
            settings.topic_events,
            2 * list(poison).index("oversize") + 1,
            "size",
            len(poison["oversize"]),
        ]
        assert worker.query("SELECT count() FROM events_raw").rows == [[2 * len(goods)]]
        assert worker.query("SELECT count() FROM inferences").rows == [[predictions]]
        assert metric_total(replay, "lineage_events_dead_lettered_total") == 0
    finally:
        worker.stop()
    assert len(read_topic(settings, settings.topic_dlq)) == len(injected)


def good_offsets(goods: int, poison: int) -> list[int]:
    """Where :func:`interleave` put the good records."""
    return [2 * i if i <= poison else i + poison for i in range(goods)]


def dlq_offset(dead: Read, topic: str) -> int:
    """The original offset a dead letter names, once its topic and partition are checked."""
    assert dead.headers["lineage.original.topic"] == topic.encode()
    assert dead.headers["lineage.original.partition"] == b"0"
    return int(dead.headers["lineage.original.offset"])


def test_a_dlq_that_refuses_stops_commits_until_it_takes_the_record(
    settings: WorkerSettings,
) -> None:
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
    producer = ordered_producer(settings)
    producer.produce(settings.topic_events, goods[0].value, b"k", partition=0)
    producer.produce(settings.topic_events, b"\xc3\x01" + b"\x22" * 600, b"k", partition=0)
    producer.produce(settings.topic_events, goods[1].value, b"k", partition=0)
    assert producer.flush(PATIENCE) == 0
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
