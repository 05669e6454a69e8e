"""What the fault scenarios share: offsets, counting what landed, killing workers at chosen
moments, reading the worker's metrics."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from lineage_collector import LineageClient
from lineage_processors.local.clickhouse import LocalClickHouse
from lineage_processors.local.kafka import LocalKafka
from lineage_processors.settings import WorkerSettings
from tests.conftest import REPO, WorkerProcess, child_env, free_port, run_cli
from tests.faults.workload import counts, expected


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait until ``condition`` holds; a Kafka error asking it (stale metadata while
    leaders move) counts as not yet."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            if condition():
                return
        except KafkaException as exc:
            last_error = f" (last error: {exc.args[0]})"
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s{last_error}"
        time.sleep(0.1)


def service_client(settings: WorkerSettings, config: dict[str, Any] | None = None) -> LineageClient:
    """The SDK as a service configures it, spooling to the settings' spool folder."""
    return LineageClient(
        settings.kafka_bootstrap,
        topic_events=settings.topic_events,
        topic_inferences=settings.topic_inferences,
        namespace="faults",
        producer_config=config,
        spool_dir=settings.effective_spool_dir,
    )


def broker_pid(kafka: LocalKafka) -> int:
    pid = kafka.status().pid
    assert pid is not None, "the fault suite's own Kafka broker is not running"
    return pid


@dataclass(frozen=True)
class Outcome:
    """What a scenario reports: events sent, faults injected, lost, visible duplicates."""

    scenario: str
    events: int
    faults: int
    lost: int
    duplicates: int

    def line(self) -> str:
        return (
            f"{self.scenario}: events={self.events} faults={self.faults} "
            f"lost={self.lost} duplicates={self.duplicates}"
        )


def exactly_once(
    scenario: str,
    worker: WorkerProcess,
    events: int,
    models: int,
    faults: int,
    timeout: float = 180,
) -> Outcome:
    """Wait until the store holds every event once (raw, FINAL, distinct ids); report it."""
    want = expected(events, models)
    deadline = time.monotonic() + timeout
    got = counts(worker)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.5)
        got = counts(worker)
    outcome = Outcome(
        scenario,
        events + models * (want["inf"] // max(models, 1) if models else 0),
        faults,
        lost=(want["raw_ids"] - got["raw_ids"]) + (want["inf_ids"] - got["inf_ids"]),
        duplicates=(got["raw"] - got["raw_ids"]) + (got["inf"] - got["inf_ids"]),
    )
    print(outcome.line())
    assert got == want, f"{outcome.line()}\ngot {got}, want {want}\n{worker.log()[-5000:]}"
    return outcome


def lag_is_zero(settings: WorkerSettings, topics: list[str], timeout: float = 60) -> None:
    """Wait until the worker group's committed offsets reach the end of every topic (an
    empty partition has nothing to commit: no offset there is no lag)."""
    deadline = time.monotonic() + timeout
    for topic in topics:
        ends = end_offsets(settings, topic)
        while not caught_up(got := committed(settings, topic), ends):
            assert time.monotonic() < deadline, f"{topic}: committed {got}, ends {ends}"
            time.sleep(0.3)


def on_server(settings: WorkerSettings, server: LocalClickHouse) -> WorkerSettings:
    """``settings`` writing to a database of their own on ``server``, over 4 partitions."""
    url = server.url(f"scale_{uuid.uuid4().hex[:8]}")
    assert url is not None, "the test ClickHouse server is not running"
    return settings.replace(clickhouse_url=url, topic_partitions=4)


def member(shared: WorkerSettings, n: int) -> WorkerSettings:
    """Worker ``n`` of the group: the same topics, group and store; its own port and folder."""
    return shared.replace(worker_port=free_port(), state_dir=shared.state_dir / f"worker{n}")


def consumed(settings: WorkerSettings) -> float:
    return metric_total(settings, "lineage_records_consumed_total")


def caught_up(committed: dict[int, int], ends: dict[int, int]) -> bool:
    """Committed offsets at the end of every partition (an empty one has no commit)."""
    return all(committed[p] == end or (end == 0 and committed[p] < 0) for p, end in ends.items())


def start_group(shared: WorkerSettings, workers: int) -> list[WorkerProcess]:
    """``workers`` workers of ``shared``'s group, started at once as a deployment's replicas
    are (the first on ``shared``'s own port and folder), each answering queries."""
    group = [WorkerProcess(shared)] + [WorkerProcess(member(shared, n)) for n in range(1, workers)]
    for w in group:
        w.launch()
    return [w.ready() for w in group]


def wait_for_group(settings: WorkerSettings, workers: int, timeout: float = 90) -> None:
    """Wait until the worker group is stable with each of a worker's consumers (one per
    topic, named by client id) there ``workers`` times, each assigned partitions: the
    rebalance after workers joined or left is over."""
    from confluent_kafka import ConsumerGroupState

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    deadline = time.monotonic() + timeout
    per_consumer: dict[str, int] = {}
    while time.monotonic() < deadline:
        group = admin.describe_consumer_groups([settings.consumer_group])
        seen = group[settings.consumer_group].result(timeout=10)
        per_consumer = {}
        for m in seen.members:
            if m.assignment.topic_partitions:
                per_consumer[m.client_id] = per_consumer.get(m.client_id, 0) + 1
        if seen.state == ConsumerGroupState.STABLE and set(per_consumer.values()) == {workers}:
            return
        time.sleep(0.3)
    raise AssertionError(f"the group never settled with {workers} workers: {per_consumer}")


def store_counts(settings: WorkerSettings, sql: str) -> list[list[object]]:
    """Rows of ``sql`` read with the command line while no worker holds the store."""
    done = run_cli(settings, "sql", sql, "--format", "json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    rows = answer["rows"] if isinstance(answer, dict) else answer
    return [list(r.values()) if isinstance(r, dict) else r for r in rows]


def kill(worker: WorkerProcess) -> None:
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait()


def random_pause(rnd: random.Random, low: float, high: float) -> None:
    time.sleep(rnd.uniform(low, high))


def reset_to_earliest(settings: WorkerSettings, topics: list[str]) -> None:
    """Move the worker group's offsets back to the start of ``topics`` (it must be idle)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "x"})
    try:
        tps = [TopicPartition(t, p, 0) for t in topics for p in partitions(consumer, t)]
    finally:
        consumer.close()
    request = ConsumerGroupTopicPartitions(settings.consumer_group, tps)
    for future in admin.alter_consumer_group_offsets([request]).values():
        future.result(timeout=30)


def kill_inside_an_insert(worker: WorkerProcess, store_dir: Path, timeout: float = 60) -> bool:
    """SIGKILL ``worker`` the moment ClickHouse is seen writing a new part (a
    ``tmp_insert_*`` folder in a table's data folder): inside an insert. False if no insert
    was seen within ``timeout`` (the worker is killed all the same)."""
    deadline = time.monotonic() + timeout
    tables: list[str] = []
    rounds = 0
    try:
        while time.monotonic() < deadline:
            if rounds % 200 == 0:
                tables = [str(p) for p in store_dir.glob("store/*/*") if p.is_dir()]
            rounds += 1
            for table in tables:
                try:
                    with os.scandir(table) as entries:
                        if any(e.name.startswith("tmp_insert_") for e in entries):
                            return True
                except OSError:
                    continue
            time.sleep(0.0005)
        return False
    finally:
        kill(worker)


def metric_total(settings: WorkerSettings, name: str) -> float:
    """The sum of every sample of ``name`` on the worker's /metrics (0 when it has none)."""
    url = f"http://127.0.0.1:{settings.worker_port}/metrics"
    with urllib.request.urlopen(url, timeout=60) as response:  # a loaded worker is slow
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def partitions(consumer: Consumer, topic: str) -> list[int]:
    # Topics the SDK wrote to before any worker ran were auto-created with the broker's
    # default partition count, not ours: ask.
    return sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)


def committed(settings: WorkerSettings, topic: str) -> dict[int, int]:
    """The worker group's committed offset of each partition of ``topic`` (-1001: none)."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.consumer_group}
    )
    try:
        parts = [TopicPartition(topic, p) for p in partitions(consumer, topic)]
        return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
    finally:
        consumer.close()


def end_offsets(settings: WorkerSettings, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "ends"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions(consumer, topic)
        }
    finally:
        consumer.close()


def wait_for_commits(settings: WorkerSettings, topic: str, timeout: float = 30) -> dict[int, int]:
    """The group's committed offsets once they reach the end of ``topic`` (an empty
    partition has nothing to commit)."""
    deadline = time.monotonic() + timeout
    ends = end_offsets(settings, topic)
    while not caught_up(got := committed(settings, topic), ends):
        assert time.monotonic() < deadline, f"committed {got}, end offsets {ends}"
        time.sleep(0.2)
    return got


def run_until_killed(settings: WorkerSettings, log: Path, timeout: float = 60) -> int:
    """Run a worker that is set to kill itself; returns its exit status."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lineage_processors.cli.main", "worker"],
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
