"""The faust-streaming worker: Kafka topics in, ClickHouse rows out, queries served over HTTP.

The faust app owns the process (start-up, signals, web server, producer, timers). Three
:class:`~lineage_processors.worker.consumer.BatchConsumer` s read the lineage, inference and
OpenLineage topics in large batches and hand them to an
:class:`~lineage_processors.ingest.processor.IngestProcessor` each; all their store calls go
through one thread, in the order batches were read. Every second the derived state catches up
with the lineage stored (:mod:`lineage_processors.worker.deriving`), beside the inserts. The web
server answers read-only SQL at ``/sql`` and takes OpenLineage events at ``POST /api/v1/lineage``
(:mod:`lineage_processors.worker.http_api`); it also serves Prometheus metrics and the liveness
and readiness probes (:mod:`lineage_processors.ops.observability`).

This module only wires those parts together. :func:`build_worker` makes them from explicit
settings and an open store, and holds them in a :class:`WorkerParts`; nothing here is a module
global, so tests and the CLI can build as many workers as they need.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.app.base import BootStrategy

from lineage_collector.catalog import load_catalog
from lineage_collector.registry import SchemaRegistryClient
from lineage_processors.errors import ProcessorError
from lineage_processors.ingest.fast.inference import InferenceAvro
from lineage_processors.ingest.fast.paths import FastGraphPath, FastInferencePath
from lineage_processors.ingest.fast.staged import GraphStage
from lineage_processors.ingest.processor import DeadLetterWriter, IngestProcessor, StoredHook
from lineage_processors.ingest.reference.path import (
    ReferenceMapping,
    avro_mapper,
    openlineage_mapper,
)
from lineage_processors.ops.metrics import WorkerMetrics
from lineage_processors.ops.observability import install as install_observability
from lineage_processors.settings import WorkerSettings
from lineage_processors.store import apply_retention, migrate, open_configured
from lineage_processors.store.connect import WORKER_SESSION, Store
from lineage_processors.store.reads import ReadLimits, ReadPool, session_opener
from lineage_processors.store.sink import ClickHouseSink
from lineage_processors.worker.auth import Tokens, check_exposure
from lineage_processors.worker.background import Background
from lineage_processors.worker.consumer import BatchConsumer, Consumers
from lineage_processors.worker.dead_letters import DeadLetterTopic
from lineage_processors.worker.deriving import Deriving
from lineage_processors.worker.http_api import guard
from lineage_processors.worker.http_api import install as install_http
from lineage_processors.worker.kafka_security import aiokafka_options, faust_credentials
from lineage_processors.worker.log import logging_config
from lineage_processors.worker.stopping import Deadline, exit_code, exit_now, wait_for_threads
from lineage_processors.worker.topics import ensure_topics

log = logging.getLogger(__name__)

# Predictions per InferenceBatch record as the SDK's inference logger sends them (at most).
INFERENCE_BATCH = 2000
# Rows a graph event makes, about: batches of graph events are cut this much smaller, so a
# batch holds about as many rows, and as much memory, whatever it carries.
GRAPH_ROWS = 10

# Exit status of a worker whose ingest stopped on an error it cannot retry (the DLQ refused).
EXIT_INGEST_FAILED = 70


@dataclass
class WorkerParts:
    """A worker: its faust app and the parts it runs, made by :func:`build_worker`."""

    app: faust.App
    metrics: WorkerMetrics
    store_thread: ThreadPoolExecutor  # every store call of ingest, in the order read
    deriving: Deriving  # derived state, on a thread of its own
    deadline: Deadline  # from the stop's first step on, the time the process has left
    consumers: Consumers
    processors: dict[str, IngestProcessor]  # by topic

    def release_threads(self) -> None:
        """Idle threads leave now; a derive run or an insert still going gets what is left
        of the stop's time."""
        self.deriving.executor.shutdown(wait=False)
        self.store_thread.shutdown(wait=False)


class _WithoutFaustConsumer(BootStrategy):
    """faust's usual start-up less its consumer: the worker reads Kafka with BatchConsumer."""

    enable_kafka_consumer = False


def faust_app(settings: WorkerSettings, bootstrap: str, metrics: WorkerMetrics) -> faust.App:
    """The faust app: process, web server (behind the token check) and producer."""
    datadir = (settings.worker_state_dir / "faust").resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.consumer_group,
        broker=";".join(f"kafka://{b.strip()}" for b in bootstrap.split(",")),
        # Offsets are the only state; faust's tables and leader topic are not used.
        store="memory://",
        topic_disable_leader=True,
        datadir=str(datadir),
        web_host=settings.worker_host,
        web_bind=settings.worker_host,
        web_port=settings.worker_port,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Commit acknowledged offsets often: replays after a crash stay short.
        broker_commit_interval=1.0,
        broker_commit_every=settings.batch_size,
        broker_credentials=faust_credentials(settings.kafka_security()),
        # Every request passes the token check first (lineage_processors.worker.auth).
        web_application_options={"middlewares": [guard(Tokens.from_settings(settings), metrics)]},
    )
    app.boot_strategy = _WithoutFaustConsumer(app)
    return app


def ingest_processors(
    settings: WorkerSettings,
    sink: ClickHouseSink,
    store_thread: Executor,
    dead_letters: DeadLetterWriter,
    on_stored: StoredHook,
    metrics: WorkerMetrics,
) -> dict[str, IngestProcessor]:
    """One processor per topic: each with the fast path ClickHouse offers for its records,
    if any, and the reference path for the rest."""
    catalog = load_catalog()
    url = settings.schema_registry_url
    ours = avro_mapper(catalog, SchemaRegistryClient(url) if url else None)
    limit = settings.max_event_bytes

    def processor(reference: ReferenceMapping, **options: Any) -> IngestProcessor:
        return IngestProcessor(
            reference, sink, store_thread, dead_letters, metrics=metrics, **options
        )

    return {
        # Batches of our current graph events are mapped by ClickHouse.
        settings.topic_events: processor(
            ReferenceMapping(ours, limit),
            fast=FastGraphPath(GraphStage(catalog, limit)),
            on_stored=on_stored,
        ),
        # Predictions in the current schema are decoded by ClickHouse.
        settings.topic_inferences: processor(
            ReferenceMapping(ours, limit),
            fast=FastInferencePath(
                InferenceAvro(catalog.by_name("lineage.events.InferenceBatch"), limit)
            ),
        ),
        settings.topic_openlineage: processor(
            ReferenceMapping(openlineage_mapper, settings.ingest_max_bytes),
            on_stored=on_stored,
        ),
    }


def kill_after_store(batches: int) -> Callable[[], None]:
    """Fault injection (LINEAGE_FAULT_KILL_AFTER_STORE): SIGKILL the worker between the
    store and the commit of its ``batches``-th batch (0: never)."""
    stored = 0

    def after_store() -> None:
        nonlocal stored
        stored += 1
        if stored == batches:
            log.warning("LINEAGE_FAULT_KILL_AFTER_STORE: killing the worker before its commit")
            os.kill(os.getpid(), signal.SIGKILL)

    return after_store


def consumers(
    settings: WorkerSettings, bootstrap: str, processors: dict[str, IngestProcessor]
) -> Consumers:
    """A batch consumer per topic, each handing its batches to the topic's processor."""
    # batch_size counts events; a graph event makes about GRAPH_ROWS rows, an inference
    # record carries up to INFERENCE_BATCH predictions of one row each.
    graph_records = max(1, settings.batch_size // GRAPH_ROWS)
    records = {
        settings.topic_events: ("graph", graph_records),
        settings.topic_inferences: ("inferences", max(1, settings.batch_size // INFERENCE_BATCH)),
        settings.topic_openlineage: ("openlineage", graph_records),
    }
    after_store = kill_after_store(settings.fault_kill_after_store)
    options = aiokafka_options(settings.kafka_security())
    return Consumers(
        [
            BatchConsumer(
                topic=topic,
                bootstrap=bootstrap,
                group=settings.consumer_group,
                handler=proc,
                on_assigned=proc.forget,
                max_records=records[topic][1],
                max_wait=settings.batch_seconds,
                client_id=f"lineage-worker-{records[topic][0]}",
                on_stored=after_store,
                client_options=options,
                on_committed=proc.committed,
            )
            for topic, proc in processors.items()
        ]
    )


def ingest_task(running: Consumers) -> Callable[[], Awaitable[None]]:
    """The app's ingest task: runs the consumers, and ends the process if they fail."""

    async def ingest() -> None:
        try:
            await running.run()
        except Exception as exc:
            # Nothing past the failed batch was committed: exit, and let whoever restarts the
            # worker (`lineage up`, systemd, Kubernetes) read it again.
            log.critical("ingest stopped, the worker exits: %s", exc)
            logging.shutdown()
            os._exit(EXIT_INGEST_FAILED)

    return ingest


def build_worker(
    settings: WorkerSettings, store: Store, derived: Store, reads: ReadPool, bootstrap: str
) -> WorkerParts:
    """A worker wired to ``store``, which it writes, to ``derived``, another session of the
    same store that keeps derived state, and to ``reads``, the sessions people's reads run
    on; run its app with :func:`run_worker`."""
    metrics = WorkerMetrics.fresh()
    app = faust_app(settings, bootstrap, metrics)
    deadline = Deadline()

    def stop_begins(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        deadline.start()

    app.on_before_shutdown.connect(stop_begins)
    # One thread owns all store calls: chDB is in-process and blocking, and a single
    # writer keeps inserts in the order batches were read.
    store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
    deriving = Deriving(derived, settings)
    processors = ingest_processors(
        settings,
        ClickHouseSink(store),
        store_thread,
        DeadLetterTopic(app, settings.topic_dlq),
        deriving.derivation.stored,
        metrics,
    )
    running = consumers(settings, bootstrap, processors)
    app.task(ingest_task(running))
    # Every timer and loop but ingest: a failure is counted and logged, never the end.
    background = Background(app, metrics)
    deriving.install(background)
    # /sql and POST /api/v1/lineage; reads on sessions and threads of their own.
    install_http(app, settings, reads, metrics)
    # /metrics, /healthz, /readyz, and the lag and coverage timers behind them.
    writes = {topic: proc.write_failures for topic, proc in processors.items()}
    install_observability(app, settings, store, store_thread, bootstrap, metrics, writes)
    return WorkerParts(app, metrics, store_thread, deriving, deadline, running, processors)


def check_port_free(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise ProcessorError(
                f"port {port} on {host} is in use, so the worker cannot serve queries there; "
                "stop what uses it or set LINEAGE_WORKER_PORT to a free port"
            ) from None


def service_worker(
    app: faust.App, log_level: str, log_config: dict[str, Any] | None = None
) -> faust.Worker:
    """The faust worker that runs ``app``, logging at ``log_level`` and no lower, as
    ``log_config`` says (:func:`lineage_processors.worker.log.logging_config`; default: stderr)."""
    config = log_config if log_config is not None else logging_config(log_level)
    worker = faust.Worker(app, loglevel=log_level, quiet=True, logging_config=config)
    # faust's terminal spinner, kept at WARNING and above, turns the root logger to DEBUG, so
    # every library's debug call builds and formats a record (aiokafka's: one per request).
    # A service has no terminal to spin on.
    worker.spinner = None
    return worker


def run_worker(settings: WorkerSettings, log_file: Path | None = None) -> None:
    """Run a worker in the foreground until SIGINT or SIGTERM; then stop cleanly. It logs
    to stderr, or to ``log_file``, rotated by size, with its stdout and stderr."""
    bootstrap = settings.resolve_bootstrap()
    check_port_free(settings.worker_host, settings.worker_port)
    check_exposure(settings)
    store = open_configured(settings, role="lineage worker")
    derived: Store | None = None
    reads: ReadPool | None = None
    worker: WorkerParts | None = None
    try:
        migrate(store)
        apply_retention(store, settings.inference_retention_days)
        ensure_topics(settings, bootstrap)
        store.advertise(
            "lineage worker", f"http://{settings.worker_host}:{settings.worker_port}/sql"
        )
        derived = store.session()
        if store.embedded:
            for session in (store, derived):
                session.configure(WORKER_SESSION)
        reads = ReadPool(
            session_opener(settings, store),
            store.session(),
            ReadLimits.from_settings(settings),
            settings.read_concurrency,
        )
        worker = build_worker(settings, store, derived, reads, bootstrap)
        log_config = logging_config(
            settings.log_level,
            log_file,
            max_bytes=settings.log_max_bytes,
            backups=settings.log_backups,
        )
        service = service_worker(worker.app, settings.log_level, log_config)
        log.info(
            "worker consuming %s, %s and %s from %s",
            settings.topic_events,
            settings.topic_inferences,
            settings.topic_openlineage,
            bootstrap,
        )
        service.execute_from_commandline()
    finally:
        deadline = worker.deadline if worker is not None else Deadline()
        if worker is not None:
            worker.release_threads()
        if reads is not None:
            reads.close()
        busy = wait_for_threads(deadline.left())
        if busy:
            # Not closing the sessions under them: the process goes, as in a crash.
            names = ", ".join(t.name for t in busy)
            exit_now(exit_code(sys.exc_info()[1]), f"{names} still busy at the end of the stop")
        if derived is not None:
            derived.close()
        store.close()
