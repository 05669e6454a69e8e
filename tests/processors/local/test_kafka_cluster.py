"""Three local Kafka brokers of ``lineage up --brokers 3 | status | down``, for real.

One cluster serves the module: started by the command line as a user would, inspected, a
node killed and started again, and stopped by ``lineage down`` in the last test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource

from lineage_collector.errors import ConfigError
from lineage_processors.local.kafka import LocalKafka
from lineage_processors.local.kafka_cluster import LocalKafkaCluster
from lineage_processors.settings import WorkerSettings
from lineage_processors.worker.topics import topic_names
from tests.conftest import run_cli
from tests.processors.local_helpers import (
    jvm_pids,
    kill_jvm,
    partition_metadata,
    wait_for_full_isr,
)

pytestmark = pytest.mark.kafka

# Three JVMs starting on a busy two-core machine: a first start also formats three storages.
UP_TIMEOUT = 420


@dataclass(frozen=True)
class Cluster:
    settings: WorkerSettings
    kafka: LocalKafkaCluster
    up_output: str

    @property
    def bootstrap(self) -> str:
        return self.settings.resolve_bootstrap()


def kafka_jvms(kafka_dir: Path) -> list[int]:
    """Every live ``kafka.Kafka`` JVM of this Kafka state folder, of either layout."""
    needle = str(kafka_dir.resolve())
    return jvm_pids(lambda args: "kafka.Kafka" in args and any(needle in a for a in args))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    settings = WorkerSettings(state_dir=tmp_path_factory.mktemp("cluster-state"))
    kafka = LocalKafkaCluster.from_settings(settings, 3)
    up = run_cli(settings, "up", "--brokers", "3", "--no-worker", timeout=UP_TIMEOUT)
    if up.returncode != 0:
        kafka.down()
        pytest.fail(f"`lineage up --brokers 3` failed:\n{up.stdout}{up.stderr}", pytrace=False)
    yield Cluster(settings, kafka, up.stdout)
    kafka.down()


def test_the_brokers_setting_takes_one_or_three() -> None:
    assert WorkerSettings.from_env({}).kafka_brokers == 1
    assert WorkerSettings.from_env({"LINEAGE_KAFKA_BROKERS": "3"}).kafka_brokers == 3
    with pytest.raises(
        ConfigError, match=r"LINEAGE_KAFKA_BROKERS='2' is not valid: must be 1 or 3"
    ):
        WorkerSettings.from_env({"LINEAGE_KAFKA_BROKERS": "2"})


def test_up_with_three_brokers_starts_three_nodes_of_one_cluster(cluster: Cluster) -> None:
    kafka_dir = cluster.settings.kafka_state_dir
    status = cluster.kafka.status()
    addresses = [node.bootstrap for node in status.nodes]
    assert status.running and all(a and re.fullmatch(r"127\.0\.0\.1:\d+", a) for a in addresses)
    assert len(set(addresses)) == 3
    # The bootstrap file, which the SDK and the worker read, lists all three.
    assert (kafka_dir / "bootstrap").read_text().strip() == ",".join(map(str, addresses))
    assert f"kafka: running at {cluster.bootstrap} (logs " in cluster.up_output
    assert "topics created: " in cluster.up_output
    assert sorted(kafka_jvms(kafka_dir)) == sorted(node.pid for node in status.nodes)

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 0})
    metadata = admin.list_topics(timeout=30)
    assert {i: f"{b.host}:{b.port}" for i, b in metadata.brokers.items()} == {
        i: a for i, a in enumerate(addresses, 1)
    }
    # One cluster id, formatted into each node's own folder; the single broker's layout
    # (the Kafka folder itself) is left alone.
    ids = {
        re.findall(
            r"cluster\.id=(\S+)", (kafka_dir / f"node-{i}/data/meta.properties").read_text()
        )[0]
        for i in (1, 2, 3)
    }
    assert ids == {(kafka_dir / "node-1" / "cluster.id").read_text().strip()}
    assert not (kafka_dir / "data").exists()
    assert not (kafka_dir / "server.properties").exists()


def test_topics_get_three_replicas_and_two_in_sync(cluster: Cluster) -> None:
    topics = topic_names(cluster.settings)
    wait_for_full_isr(cluster.bootstrap, topics, replicas=3, timeout=120)
    for topic in topics:
        parts = partition_metadata(cluster.bootstrap, topic)
        assert len(parts) == cluster.settings.topic_partitions
        assert {len(p.replicas) for p in parts.values()} == {3}

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 0})
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
    for resource, future in admin.describe_configs(resources).items():
        entry = future.result(timeout=30)["min.insync.replicas"]
        # Set on the topic itself, not inherited: an external cluster's default may be 1.
        assert (entry.value, entry.source) == ("2", ConfigSource.DYNAMIC_TOPIC_CONFIG.value), (
            resource
        )

    expected = {
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "offsets.topic.replication.factor": "3",
        "transaction.state.log.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
        "share.coordinator.state.topic.replication.factor": "3",
        "share.coordinator.state.topic.min.isr": "2",
    }
    for node_id in (1, 2, 3):  # one broker a request, as Kafka wants it
        broker = ConfigResource(ConfigResource.Type.BROKER, str(node_id))
        config = admin.describe_configs([broker])[broker].result(timeout=30)
        assert {name: config[name].value for name in expected} == expected, node_id


def test_a_node_killed_and_started_again_keeps_its_ports_and_rejoins(cluster: Cluster) -> None:
    kafka = cluster.kafka
    ports_file = kafka.node(2).state_dir / "ports.json"
    ports = json.loads(ports_file.read_text())
    address = kafka.node(2).status().bootstrap
    pid = kafka.pid(2)
    assert pid is not None

    kill_jvm(pid)
    assert kafka.pid(2) is None
    status = run_cli(cluster.settings, "status")
    assert status.returncode == 3, status.stderr
    assert "kafka: 2 of 3 brokers running" in status.stdout
    assert "kafka node 2: not running (log " in status.stdout

    assert kafka.start_node(2, progress=lambda _: None) == address
    assert json.loads(ports_file.read_text()) == ports
    assert kafka.pid(2) not in (None, pid)
    assert cluster.bootstrap == kafka.status().bootstrap
    # Back in every partition's in-sync replicas: it caught up with what it missed.
    wait_for_full_isr(cluster.bootstrap, topic_names(cluster.settings), replicas=3, timeout=120)


def test_one_broker_is_refused_while_three_run(cluster: Cluster) -> None:
    single = run_cli(cluster.settings, "up", "--no-worker", timeout=120)
    assert single.returncode == 1
    assert "runs as three brokers" in single.stderr
    assert "`lineage down`" in single.stderr
    assert "Traceback" not in single.stderr
    assert (
        not LocalKafka(cluster.settings.kafka_state_dir, cluster.settings.cache_dir)
        .status()
        .running
    )
    assert len(kafka_jvms(cluster.settings.kafka_state_dir)) == 3


def test_status_shows_each_node_and_down_stops_all_three(cluster: Cluster) -> None:
    nodes = cluster.kafka.status().nodes
    status = run_cli(cluster.settings, "status")
    # Exit 3: no worker runs (`up --no-worker`).
    assert status.returncode == 3, status.stderr
    assert "kafka: 3 of 3 brokers running" in status.stdout
    for i, node in enumerate(nodes, 1):
        line = f"kafka node {i}: running, pid {node.pid}, at {node.bootstrap} (log {node.log_file})"
        assert line in status.stdout

    down = run_cli(cluster.settings, "down", timeout=180)
    assert down.returncode == 0, down.stderr
    assert "kafka: stopped" in down.stdout
    assert kafka_jvms(cluster.settings.kafka_state_dir) == []
    assert not (cluster.settings.kafka_state_dir / "bootstrap").exists()
    after = run_cli(cluster.settings, "status")
    assert "kafka: 0 of 3 brokers running" in after.stdout
    assert "kafka: was not running" in run_cli(cluster.settings, "down").stdout
