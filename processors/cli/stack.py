"""The local stack commands of ``lineage``: up, down and status.

``up`` starts Kafka (one broker or three, unless LINEAGE_KAFKA_BOOTSTRAP names a cluster) and
a worker in the background, each on free ports kept in the state folder; ``status`` shows the
addresses recorded there, as the other commands find them; ``down`` stops both.
"""

from __future__ import annotations

import argparse
import os
import time

from lineage_processors.cli.command import EXIT_NOT_RUNNING, EXIT_OK, Add
from lineage_processors.cli.output import say
from lineage_processors.local import worker as local_worker
from lineage_processors.local.state import given
from lineage_processors.settings import WorkerSettings
from lineage_processors.store import redact
from lineage_processors.store.owner import chdb_path


def cmd_up(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.local.kafka_cluster import LocalKafkaCluster
    from lineage_processors.worker.topics import ensure_topics

    started = time.monotonic()
    say(f"state: {settings.state_dir.resolve()}")
    if args.brokers is not None:
        settings = settings.replace(kafka_brokers=args.brokers)
    if settings.kafka_bootstrap:
        bootstrap = settings.kafka_bootstrap
        say(f"using the Kafka cluster at {bootstrap} (LINEAGE_KAFKA_BOOTSTRAP)")
    else:
        kafka = LocalKafkaCluster.from_settings(settings)
        bootstrap = kafka.up(progress=say)
        logs = ", ".join(str(node.log_file) for node in kafka.status().nodes)
        say(f"kafka: running at {bootstrap} (log{'s' if len(kafka.nodes) > 1 else ''} {logs})")
    created = ensure_topics(settings, bootstrap)
    if created:
        say(f"topics created: {', '.join(created)}")
    if not args.no_worker:
        worker = local_worker.start(
            settings,
            {**os.environ, **settings.to_env()},
            # A port named in the environment is the user's; else one of the stack's own.
            free_port=not given(os.environ, "worker_port"),
            progress=say,
        )
        say(
            f"worker: running at {worker.url}, pid {worker.pid}, queries at "
            f"{worker.query_url} (log {worker.log_file})"
        )
    say(f"up in {time.monotonic() - started:.1f}s")
    return EXIT_OK


def cmd_down(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.local.kafka_cluster import LocalKafkaCluster

    if local_worker.stop(settings):
        say("worker: stopped")
    if settings.kafka_bootstrap:
        say("kafka: external cluster (LINEAGE_KAFKA_BOOTSTRAP), left running")
        return EXIT_OK
    # Whichever runs, one broker or three: `down` needs no --brokers.
    kafka = LocalKafkaCluster.from_settings(settings)
    say("kafka: stopped" if kafka.down() else "kafka: was not running")
    return EXIT_OK


def cmd_status(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.local.kafka_cluster import LocalKafkaCluster

    say(f"state: {settings.state_dir.resolve()}")
    if settings.kafka_bootstrap:
        kafka_up = True
        say(f"kafka: external cluster at {settings.kafka_bootstrap}")
    else:
        kafka = LocalKafkaCluster.running_in(settings)
        nodes = kafka.status().nodes
        kafka_up = all(ks.running for ks in nodes)
        if len(nodes) > 1:
            running = sum(ks.running for ks in nodes)
            say(f"kafka: {running} of {len(nodes)} brokers running")
        for node_id, ks in enumerate(nodes, 1):
            name = f"kafka node {node_id}" if len(nodes) > 1 else "kafka"
            say(
                f"{name}: running, pid {ks.pid}, at {ks.bootstrap} (log {ks.log_file})"
                if ks.running
                else f"{name}: not running (log {ks.log_file})"
            )
    ws = local_worker.status(settings)
    worker_up = local_worker.healthy(ws, settings.read_token)
    if worker_up:
        say(
            f"worker: running, pid {ws.pid}, at {ws.url}, queries at {ws.query_url} "
            f"(log {ws.log_file})"
        )
    elif ws.running:
        say(
            f"worker: not answering, pid {ws.pid}, at {ws.url or '(no address recorded)'} "
            f"(log {ws.log_file}); `lineage down` and `lineage up` start it afresh"
        )
    else:
        say("worker: not running")
    say(f"store: {store_place(settings)}")
    return EXIT_OK if kafka_up and worker_up else EXIT_NOT_RUNNING


def store_place(settings: WorkerSettings) -> str:
    """Where the store of ``settings`` is, in words, its password hidden."""
    url = settings.effective_clickhouse_url
    data = chdb_path(url)
    if data is None:
        return f"ClickHouse server at {redact(url)}"
    if data.exists():
        return f"embedded, in {data}"
    return f"none yet (`lineage up` creates it in {data})"


def register(add: Add) -> None:
    """Add ``lineage up``, ``down`` and ``status`` to the ``lineage`` parser."""
    up = add(
        "up",
        cmd_up,
        "Start the local stack: a Kafka broker, or three with --brokers 3 (provisioned on "
        "first use), and a worker in the background, each on free ports kept in the state "
        "folder. Running it again is harmless.",
    )
    up.add_argument("--no-worker", action="store_true", help="start Kafka only")
    up.add_argument(
        "--brokers",
        type=int,
        choices=(1, 3),
        help="local Kafka brokers: 1, or 3 (topics with 3 replicas, min.insync.replicas 2); "
        "default LINEAGE_KAFKA_BROKERS, else 1",
    )
    add("down", cmd_down, "Stop the local worker and Kafka brokers started by `lineage up`.")
    add(
        "status",
        cmd_status,
        "Show the state folder, whether the local Kafka brokers and worker run and where, and "
        "the store (exit 3 if not everything runs).",
    )
