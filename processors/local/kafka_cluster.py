"""The local Kafka of ``lineage up | down | status``: one broker, or a cluster of three.

One broker is :class:`~lineage_processors.local.kafka.LocalKafka` on the Kafka state folder itself,
as it always was. Three are three such nodes, each a KRaft broker and controller in one JVM
in a folder of its own under the Kafka state folder, all three voters of a static quorum and
formatted with one cluster id; with three, topics get three replicas and
``min.insync.replicas=2`` (``deploy/local/kafka-start.sh`` renders that from the voters), so a
node may die while producers and consumers carry on. :class:`LocalKafkaCluster` starts,
stops and inspects either; each node can be killed and started again on its own, at the same
ports, which is what the fault tests do.

Files in the Kafka state folder of a cluster (each ``node-N/`` is laid out as a single
broker's folder is, see :mod:`lineage_processors.local.kafka`):

``bootstrap``          every node's ``127.0.0.1:PORT``, comma-separated, while the cluster is up
``node-1/cluster.id``  the cluster id, made at the first start and kept for every node
``node-N/``            node N's ports, configuration, data and log
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from lineage_processors.errors import LocalStackError
from lineage_processors.local.kafka import KafkaStatus, LocalKafka
from lineage_processors.local.ports import HOST, write_atomically
from lineage_processors.local.process import Launched
from lineage_processors.local.scripts import require
from lineage_processors.settings import WorkerSettings

BROKER_COUNTS = (1, 3)
# Three JVMs share the machine: each gets less heap than a single broker's 512 MiB, ample
# for the topics of local use and tests, and the client compiler and serial collector only,
# which start three nodes on two busy cores in about half the time (14-22 s against 30-47 s
# measured) for throughput that local use does not miss. KAFKA_HEAP_OPTS, if set, wins.
NODE_JVM_OPTS = "-Xms128m -Xmx384m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@dataclass(frozen=True)
class ClusterStatus:
    """What :meth:`LocalKafkaCluster.status` found: each node's status, in node id order."""

    nodes: tuple[KafkaStatus, ...]

    @property
    def running(self) -> bool:
        """True if every node runs."""
        return all(node.running for node in self.nodes)

    @property
    def bootstrap(self) -> str | None:
        """The addresses of the nodes that run, comma-separated; ``None`` if none runs."""
        return ",".join(n.bootstrap for n in self.nodes if n.bootstrap) or None


class LocalKafkaCluster:
    """Start, stop and inspect the local Kafka of one Kafka state folder: ``brokers`` 1 or 3.

    ``kafka_dir`` is the Kafka state folder (``WorkerSettings.kafka_state_dir``); ``cache_dir``,
    ``deploy_dir`` and ``start_timeout`` are as for :class:`LocalKafka`. Nodes are numbered
    by their Kafka node id, from 1. One state folder runs one broker or three, never both:
    starting one layout while the other runs is refused with what to do.
    """

    def __init__(
        self,
        kafka_dir: Path,
        cache_dir: Path,
        brokers: int = 3,
        deploy_dir: Path | None = None,
        start_timeout: float = 90.0,
        *,
        secure: bool = False,
    ) -> None:
        if brokers not in BROKER_COUNTS:
            raise LocalStackError(
                f"the local Kafka runs 1 broker or 3, not {brokers}; set LINEAGE_KAFKA_BROKERS "
                "to 1 or 3"
            )
        self.kafka_dir = kafka_dir.expanduser().resolve()
        self.brokers = brokers

        def node(folder: Path, secure: bool = False) -> LocalKafka:
            return LocalKafka(folder, cache_dir, deploy_dir, start_timeout, secure=secure)

        # The single broker lives in the Kafka state folder itself, as it always has.
        self._single = node(self.kafka_dir, secure)
        self._cluster_nodes = [node(self.kafka_dir / f"node-{i}") for i in (1, 2, 3)]
        self.secure = secure
        self.nodes = [self._single] if brokers == 1 else self._cluster_nodes
        """This layout's nodes, node 1 first."""

    @classmethod
    def from_settings(
        cls, settings: WorkerSettings, brokers: int | None = None
    ) -> LocalKafkaCluster:
        """The local Kafka of ``settings``' state folder: ``brokers`` if given, else as many
        as LINEAGE_KAFKA_BROKERS says."""
        return cls(
            settings.kafka_state_dir,
            settings.cache_dir,
            brokers or settings.kafka_brokers,
            start_timeout=settings.kafka_start_timeout,
            secure=settings.kafka_local_secure,
        )

    @classmethod
    def running_in(cls, settings: WorkerSettings) -> LocalKafkaCluster:
        """The local Kafka of ``settings``' state folder in the layout that runs there (any
        node of it); if none runs, the one whose data is there; if both or neither, the one
        the settings ask for."""
        three = cls.from_settings(settings, 3)
        if any(node.status().running for node in three.nodes):
            return three
        if three._single.status().running:
            return cls.from_settings(settings, 1)
        formatted = {
            count: (nodes[0].state_dir / "data" / "meta.properties").exists()
            for count, nodes in ((1, [three._single]), (3, three._cluster_nodes))
        }
        if formatted[1] != formatted[3]:
            return cls.from_settings(settings, 1 if formatted[1] else 3)
        return cls.from_settings(settings)

    @property
    def bootstrap_file(self) -> Path:
        """Holds the bootstrap address of every node while they run; clients find it here."""
        return self.kafka_dir / "bootstrap"

    def node(self, node_id: int) -> LocalKafka:
        """Node ``node_id`` (1 to ``brokers``)."""
        if not 1 <= node_id <= len(self.nodes):
            raise LocalStackError(f"the local Kafka has nodes 1 to {len(self.nodes)}, no {node_id}")
        return self.nodes[node_id - 1]

    def pid(self, node_id: int) -> int | None:
        """The pid of node ``node_id``'s JVM, or ``None`` if it does not run."""
        return self.node(node_id).status().pid

    def status(self) -> ClusterStatus:
        """Each node's status (see :meth:`LocalKafka.status`)."""
        return ClusterStatus(tuple(node.status() for node in self.nodes))

    def up(self, progress: Callable[[str], None] = print) -> str:
        """Start every node that does not run; return the bootstrap address of them all.

        Idempotent, as :meth:`LocalKafka.up`. The nodes of a cluster start together and are
        then waited for: none answers before a majority of the quorum runs. If one does not
        answer in time, the nodes started now are stopped again and the error says why.
        """
        if self.brokers == 1:
            self._refuse_if_running(self._cluster_nodes, "three brokers", 3)
            return self._single.up(progress)
        self._refuse_if_secured()
        require("java", LocalKafka.JAVA_HINT)
        provisioned = self._single.provision(progress)
        with self._lock():
            self._refuse_if_running([self._single], "one broker", 1)
            env = self._env()

            def start(node: LocalKafka, args: tuple[str, ...]) -> Launched:
                return node.start(provisioned, progress, args=args, env=env)

            # At once: the first start formats each node's storage, a JVM run of its own.
            with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
                starts = [
                    pool.submit(start, node, args)
                    for node, args in zip(self.nodes, self._node_args(), strict=True)
                ]
            # Nodes started now are stopped again if the cluster does not come up: the next
            # `up` starts afresh.
            started_now = [
                node
                for node, f in zip(self.nodes, starts, strict=True)
                if f.exception() is None and f.result().started
            ]
            for f in starts:
                if (failure := f.exception()) is not None:
                    _stop(started_now)
                    raise failure
            try:
                addresses = [
                    node.ready(f.result(), progress)
                    for node, f in zip(self.nodes, starts, strict=True)
                ]
            except LocalStackError:
                _stop(started_now)
                raise
        bootstrap = ",".join(addresses)
        write_atomically(self.bootstrap_file, bootstrap + "\n")
        return bootstrap

    def start_node(self, node_id: int, progress: Callable[[str], None] = print) -> str:
        """Start node ``node_id`` again (after it stopped or was killed) at its kept ports;
        return its address once it answers. The others must run for it to answer."""
        node = self.node(node_id)
        if self.brokers == 1:
            return node.up(progress)
        provisioned = node.provision(progress)
        with self._lock():
            args = self._node_args()[node_id - 1]
            launched = node.start(provisioned, progress, args=args, env=self._env())
            return node.ready(launched, progress)

    def down(self) -> bool:
        """Stop the local Kafka of this state folder, whichever layout runs; return True if a
        node was running. No node of either layout is left running afterwards."""
        stopped = _stop([self._single, *self._cluster_nodes])
        self.bootstrap_file.unlink(missing_ok=True)
        return stopped

    # -- helpers -----------------------------------------------------------------------------

    def _node_args(self) -> list[tuple[str, str, str]]:
        """Each node's arguments to the start script: its id, every voter, the cluster id
        file. Every node's ports are picked (and kept) here, before any node starts: each
        node's configuration names every controller."""
        taken: set[int] = set()
        voters = []
        for node_id, node in enumerate(self.nodes, 1):
            ports = node.kept_ports(avoid=taken)
            taken.update(ports)
            voters.append(f"{node_id}@{HOST}:{ports[1]}")
        quorum = ",".join(voters)
        cluster_id = str(self.nodes[0].state_dir / "cluster.id")
        return [(str(node_id), quorum, cluster_id) for node_id in range(1, len(self.nodes) + 1)]

    def _env(self) -> dict[str, str]:
        return {**os.environ, "KAFKA_HEAP_OPTS": os.environ.get("KAFKA_HEAP_OPTS", NODE_JVM_OPTS)}

    def _lock(self) -> AbstractContextManager[None]:
        # The single broker's lock: a start of one layout waits for a start of the other,
        # which then finds it running and refuses.
        return self._single._lock()

    def _refuse_if_running(self, nodes: list[LocalKafka], layout: str, count: int) -> None:
        running = [str(pid) for pid in (node.status().pid for node in nodes) if pid is not None]
        if running:
            wanted = "one broker" if self.brokers == 1 else "three"
            raise LocalStackError(
                f"the local Kafka of {self.kafka_dir} runs as {layout} (pid "
                f"{', '.join(running)}); stop it with `lineage down` before starting {wanted}, "
                f"or use it as it is with `lineage up --brokers {count}`"
            )

    def _refuse_if_secured(self) -> None:
        try:
            created = (self.kafka_dir / "security").read_text().strip()
        except FileNotFoundError:
            created = ""
        if self.secure or created == "SASL_SSL":
            raise LocalStackError(
                "three local brokers are plaintext only, and "
                + (
                    "LINEAGE_KAFKA_LOCAL_SECURE=1 asks for a secured broker; unset it, or set "
                    "LINEAGE_KAFKA_BROKERS=1"
                    if self.secure
                    else f"the local Kafka of {self.kafka_dir} was created secured (SASL_SSL); "
                    "for three brokers use another LINEAGE_STATE_DIR"
                )
            )


def _stop(nodes: list[LocalKafka]) -> bool:
    """Stop ``nodes``, all at once; True if one was running."""
    # At once: a node stopped last, after the others, would find no quorum to approve its
    # controlled shutdown, and wait for one until killed.
    with ThreadPoolExecutor(max_workers=max(len(nodes), 1)) as pool:
        return any(list(pool.map(LocalKafka.down, nodes)))
