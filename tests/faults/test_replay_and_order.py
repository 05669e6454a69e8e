"""Scenarios 8 and 9: the same records read again, or read in another order and more than
once, leave the same store behind."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import pytest
from confluent_kafka import Producer

from lineage_processors.errors import StoreError
from lineage_processors.local.clickhouse import LocalClickHouse
from lineage_processors.settings import WorkerSettings
from lineage_processors.store.connect import open_store
from tests.conftest import WorkerProcess, isolated_settings, read_topic
from tests.faults.conftest import sized
from tests.faults.helpers import (
    Outcome,
    consumed,
    on_server,
    reset_to_earliest,
    start_group,
    wait_for_commits,
    wait_for_group,
)
from tests.faults.story import (
    INGEST_TABLES,
    Message,
    contents,
    raw_counts,
    settled,
    story,
    topic_of,
)

KINDS = ("events", "inferences", "openlineage")
MERGE_OR_SAY_WHY = {"optimize_throw_if_noop": 1}


@dataclass(frozen=True)
class InOrder:
    """A store fed the story once, in the order it happened, and what it then held."""

    settings: WorkerSettings
    records: list[Message]
    predictions: int
    contents: dict[str, list[list[object]]]
    raw: dict[str, int]


def produce(
    settings: WorkerSettings, records: list[Message], rnd: random.Random | None = None
) -> None:
    """Send ``records`` in this order: to partition 0, or to random partitions with ``rnd``."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for r in records:
        partition = rnd.randrange(settings.topic_partitions) if rnd else 0
        producer.produce(topic_of(settings, r.kind), r.value, r.key, partition=partition)
    assert producer.flush(30) == 0


def events_in(story: InOrder) -> int:
    """Lineage events and predictions the story's records carry."""
    return sum(1 for r in story.records if r.kind != "inferences") + story.predictions


def predictions_in(worker: WorkerProcess) -> int:
    return int(worker.query("SELECT uniqExact(inference_id) FROM inferences").rows[0][0])


@pytest.fixture(scope="module")
def in_order(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> InOrder:
    scratch = isolated_settings(tmp_path_factory.mktemp("story") / "state", kafka_bootstrap)
    records = story(scratch)
    # One partition per topic: each topic is read back in exactly the order it was sent.
    settings = isolated_settings(
        tmp_path_factory.mktemp("in-order") / "state", kafka_bootstrap
    ).replace(topic_partitions=1)
    worker = WorkerProcess(settings).start()
    try:
        produce(settings, records)
        worker.wait_for("SELECT 1 FROM inferences WHERE inference_id = 'single-1'", 1)
        for kind in KINDS:
            wait_for_commits(settings, topic_of(settings, kind), timeout=120)
        predictions = predictions_in(worker)
        stored = InOrder(
            settings,
            records,
            predictions,
            settled(worker, predictions),
            raw_counts(worker),
        )
    finally:
        worker.stop()
    return stored


def test_scenario8_full_replay_from_earliest_leaves_every_table_unchanged(
    in_order: InOrder,
) -> None:
    """Scenario 8. Pass: the worker group is reset to the earliest offset of every topic and
    reads everything again; afterwards every table holds as many rows as before and the
    same contents under FINAL, derived state (attribution, closures, tag impacts)
    included. A second consumer group reading everything from the start changes nothing
    either; one record sent twice, as a producer retry would, shows once under FINAL."""
    settings = in_order.settings
    topics = [topic_of(settings, kind) for kind in KINDS]
    reset_to_earliest(settings, topics)
    worker = WorkerProcess(settings).start()
    try:
        for topic in topics:
            wait_for_commits(settings, topic, timeout=120)
        time.sleep(4)  # derived state runs every second, attribution sweeps every two
        after = settled(worker, in_order.predictions)
        raw = raw_counts(worker)
    finally:
        worker.stop()
    assert "stored already" in worker.log(), worker.log()[-3000:]
    outcome = Outcome(
        "8 full replay",
        events=events_in(in_order),
        faults=1,  # one reset of the group to the earliest offsets
        lost=sum(max(0, in_order.raw[t] - raw[t]) for t in INGEST_TABLES),
        duplicates=sum(max(0, raw[t] - in_order.raw[t]) for t in INGEST_TABLES),
    )
    print(outcome.line())
    assert raw == in_order.raw
    assert after == in_order.contents

    # Another group from the start, then the first event once more as a retry would send it.
    other = settings.replace(consumer_group=f"{settings.consumer_group}-again")
    worker = WorkerProcess(other).start()
    try:
        for topic in topics:
            wait_for_commits(other, topic, timeout=120)
        assert raw_counts(worker) == in_order.raw
        first = read_topic(other, other.topic_events)[0]
        retry = Producer({"bootstrap.servers": other.kafka_bootstrap})
        retry.produce(other.topic_events, first.value, first.key, partition=first.partition)
        assert retry.flush(10) == 0
        worker.wait_for("SELECT 1 FROM events_raw GROUP BY event_id HAVING count() = 2", 1)
        again = raw_counts(worker)
        assert again["events_raw"] == in_order.raw["events_raw"] + 1
        assert contents(worker) == in_order.contents
    finally:
        worker.stop()


# Each seed is another order, other repeats, other partitions.
@pytest.mark.parametrize("seed", range(9, 9 + sized(1, 4)))
def test_scenario9_out_of_order_and_repeated_delivery_builds_the_same_graph(
    in_order: InOrder, settings: WorkerSettings, seed: int
) -> None:
    """Scenario 9. Pass: the same records of every event kind, shuffled, each sent one to
    three times (repeats also far from the first copy), spread over partitions, the
    predictions before any lineage and the tag before the lineage it spreads over, leave
    a store whose nodes, properties, edges, subject links, deployments, tags, predictions
    and their attributions, model closures and tag impacts, read under FINAL, are exactly
    those of the store that read each record once, in order, down to the event each row
    names as its source. Among them, OpenLineage runs' START and COMPLETE both state the
    run's edges: the edges keep the START's time, however the two arrive."""
    rnd = random.Random(seed)
    records = in_order.records
    preds = [r for r in records if r.kind == "inferences"]
    graph = [r for r in records if r.kind != "inferences"]
    tag = graph.pop(max(i for i, r in enumerate(graph) if r.kind == "events"))
    rnd.shuffle(preds)
    rnd.shuffle(graph)
    first = repeated(rnd, preds)
    then = repeated(rnd, [tag, *graph])
    worker = WorkerProcess(settings).start()
    try:
        produce(settings, first, rnd)
        # Predictions stored before the lineage that attributes them is there at all.
        worker.wait_for("SELECT 1 FROM inferences LIMIT 1", 1)
        produce(settings, then, rnd)
        for kind in KINDS:
            wait_for_commits(settings, topic_of(settings, kind), timeout=120)
        got = settled(worker, in_order.predictions)
        want = in_order.contents
    finally:
        worker.stop()
    sizes = {t: len(got[t]) - len(want[t]) for t in INGEST_TABLES}
    outcome = Outcome(
        "9 out of order and repeated",
        events=events_in(in_order),
        faults=len(first) + len(then) - len(records),
        lost=-sum(n for n in sizes.values() if n < 0),
        duplicates=sum(n for n in sizes.values() if n > 0),
    )
    print(outcome.line())
    differing = sorted(t for t in got if got[t] != want[t])
    assert differing == [], {t: diff(got[t], want[t]) for t in differing}


def test_scenario10_three_workers_on_a_clickhouse_server_build_the_same_graph(
    in_order: InOrder, settings: WorkerSettings, clickhouse_server: LocalClickHouse
) -> None:
    """Scenario 10. Pass: the records of scenario 9 (shuffled, repeated, predictions first),
    spread over four partitions and read by three workers of one group that share a
    ClickHouse server, each worker deriving for the partitions it reads, leave exactly the
    store that one embedded worker built from the records in order: the same rows under
    FINAL, the same attributions, closures and tag impacts."""
    rnd = random.Random(10)
    shared = on_server(settings, clickhouse_server)
    records = in_order.records
    preds = [r for r in records if r.kind == "inferences"]
    graph = [r for r in records if r.kind != "inferences"]
    rnd.shuffle(preds)
    rnd.shuffle(graph)
    workers = start_group(shared, 3)
    try:
        wait_for_group(shared, workers=3)
        produce(shared, repeated(rnd, preds), rnd)
        workers[0].wait_for("SELECT 1 FROM inferences LIMIT 1", 1)
        produce(shared, repeated(rnd, graph), rnd)
        for kind in KINDS:
            wait_for_commits(shared, topic_of(shared, kind), timeout=120)
        merged_now(shared, "inferences")
        got = settled(workers[0], in_order.predictions)
        readers = [consumed(w.settings) for w in workers]
    finally:
        for w in workers:
            w.stop()
    assert all(n > 0 for n in readers), f"records read per worker: {readers}"
    differing = sorted(t for t in got if got[t] != in_order.contents[t])
    assert differing == [], {t: diff(got[t], in_order.contents[t]) for t in differing}


def merged_now(settings: WorkerSettings, table: str, timeout: float = 60) -> None:
    """Merge ``table`` into one part per partition. The views read predictions
    without FINAL, so a repeat sent to another partition counts twice until the parts that
    hold it merge; the embedded engine merges a few small parts at once, a server's merge
    selector may leave them for long. (A merge is refused while a mutation or another merge
    holds the parts: asked again.)"""
    store = open_store(settings.clickhouse_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                store.command(f"OPTIMIZE TABLE {table} FINAL", settings=MERGE_OR_SAY_WHY)
                return
            except StoreError as exc:
                assert time.monotonic() < deadline, f"{table} never merged: {exc}"
                time.sleep(0.5)
    finally:
        store.close()


def repeated(rnd: random.Random, records: list[Message]) -> list[Message]:
    """Each record one to three times; the second half of the stream shuffled again, so a
    repeat may come long after its first copy."""
    out = [r for r in records for _ in range(rnd.choice((1, 1, 2, 3)))]
    tail = out[len(out) // 2 :]
    rnd.shuffle(tail)
    return out[: len(out) // 2] + tail


def diff(got: list[list[object]], want: list[list[object]]) -> str:
    extra = [r for r in got if r not in want]
    missing = [r for r in want if r not in got]
    return f"{len(got)} rows against {len(want)}: extra {extra[:3]}, missing {missing[:3]}"
