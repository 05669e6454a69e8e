"""Scenario 7: on three brokers, the leader of the busiest partition dies while services emit
through the SDK and a worker reads; every event the SDK accepted is stored exactly once.

The cluster is the local one of ``lineage up --brokers 3`` (replication factor 3,
``min.insync.replicas=2``), started once for this module; each node keeps its ports when it
is started again, so clients find it at the same address.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lineage_processors.errors import ProcessorError
from lineage_processors.local.kafka_cluster import LocalKafkaCluster
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, isolated_settings
from tests.faults.conftest import sized
from tests.faults.helpers import end_offsets, exactly_once, lag_is_zero, service_client, wait_until
from tests.faults.workload import Emitter, counts
from tests.processors.local_helpers import kill_jvm, partition_metadata, wait_for_full_isr


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaCluster]:
    kafka = LocalKafkaCluster(
        tmp_path_factory.mktemp("cluster") / "kafka", WorkerSettings().cache_dir
    )
    try:
        kafka.up(progress=lambda line: print(line, file=sys.stderr))
    except ProcessorError as exc:
        kafka.down()
        pytest.fail(f"cannot start the three test Kafka brokers: {exc}", pytrace=False)
    yield kafka
    kafka.down()


def busiest_partition(settings: WorkerSettings) -> tuple[int, int]:
    """The partition of the events topic holding the most records, and its leader's node id."""
    found: list[tuple[int, int]] = []

    def look() -> bool:
        ends = end_offsets(settings, settings.topic_events)
        partition = max(ends, key=lambda p: ends[p])
        found[:] = [(partition, leader_of(settings, partition))]
        return found[0][1] > 0

    wait_until(look, 60, f"no leader of the busiest partition of {settings.topic_events}")
    return found[0]


def grows(count: Callable[[], int], by: int) -> Callable[[], bool]:
    """A condition: ``count()`` has grown ``by`` since the first time it was asked."""
    first: list[int] = []

    def grown() -> bool:
        now = count()
        if not first:
            first.append(now)
        return now >= first[0] + by

    return grown


def leader_of(settings: WorkerSettings, partition: int) -> int:
    """The node id leading ``partition`` of the events topic (-1: none)."""
    return partition_metadata(settings.kafka_bootstrap, settings.topic_events)[partition].leader


def appended(settings: WorkerSettings) -> int:
    """Records in the events topic, all partitions."""
    return sum(end_offsets(settings, settings.topic_events).values())


def test_scenario7_partition_leader_sigkilled_on_three_brokers_every_accepted_event_stored_once(
    cluster: LocalKafkaCluster, tmp_path: Path
) -> None:
    """Scenario 7. Pass: while a service emits through the SDK (idempotent, acks=all) and a
    worker stores, the node leading the busiest partition of the events topic is SIGKILLed,
    another node takes the partition over and events keep being appended; the node, started
    again at once as a supervisor would, rejoins every in-sync replica set; twice (four
    times at full size). The SDK never raised and counted no failure, every event it
    accepted is stored exactly once, raw and FINAL, the lag is back to zero and the worker
    is still running."""
    bootstrap = cluster.bootstrap_file.read_text().strip()
    # Three partitions: each node leads one, so the kills hit the leaders of several.
    settings = isolated_settings(tmp_path / "state", bootstrap).replace(topic_partitions=3)
    topics = [settings.topic_events, settings.topic_inferences]
    worker = WorkerProcess(settings).start(timeout=120)
    wait_for_full_isr(bootstrap, topics, replicas=3, timeout=120)
    sdk = service_client(settings)
    emitter = Emitter(sdk, pause=0.2)
    kills = sized(2, 4)
    restarts = ThreadPoolExecutor(max_workers=1)
    try:
        for _ in range(kills):
            # Each kill lands on a cluster the worker is storing from.
            wait_until(
                grows(lambda: counts(worker)["raw"], by=100),
                120,
                "the worker stored no new events",
            )
            partition, leader = busiest_partition(settings)
            pid = cluster.pid(leader)
            assert pid is not None, f"node {leader} leads partition {partition} but does not run"
            kill_jvm(pid)
            # Its JVM takes a while to start: the failover happens meanwhile.
            restart = restarts.submit(cluster.start_node, leader, lambda _: None)
            wait_until(
                lambda p=partition, dead=leader: leader_of(settings, p) not in (dead, -1),
                90,
                f"no other node took over partition {partition} from node {leader}",
            )
            # Two nodes hold min.insync.replicas: acks=all writes go on without the third.
            wait_until(
                grows(lambda: appended(settings), by=100),
                90,
                f"no events were appended once node {leader} was killed",
            )
            restart.result(timeout=300)
            wait_for_full_isr(bootstrap, topics, replicas=3, timeout=120)
    finally:
        restarts.shutdown()
        events, models = emitter.stop()

    assert sdk.flush(120) == 0
    producer = sdk.producer
    assert producer.failed == 0, producer.last_error
    spooled = producer.spooled
    sdk.close()
    try:
        outcome = exactly_once(
            "7 partition leader SIGKILLed, three brokers",
            worker,
            events,
            models,
            kills,
            timeout=240,
        )
        lag_is_zero(settings, topics, timeout=120)
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-3000:]
    finally:
        worker.stop()
    print(f"7: events spooled by the SDK while leaders moved: {spooled}")
    assert outcome.lost == outcome.duplicates == 0
