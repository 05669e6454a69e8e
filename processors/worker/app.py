"""The faust-streaming worker: Kafka topics in, ClickHouse rows out, queries served over HTTP.

The faust app owns the process (start-up, signals, web server, producer, timers). Three
:class:`~lineage_processors.worker.consumer.BatchConsumer` s read the lineage, inference and
OpenLineage topics in large batches and hand them to a
:class:`~lineage_processors.ingest.processor.GraphProcessor` each; all their store calls go through
one thread, in the order batches were read. Every second the derived state (attribution, model
closures, tag impacts) catches up with the lineage stored, on a thread and a store session of its
own, beside the inserts. The web server answers read-only SQL at ``/sql`` and takes OpenLineage
events at ``POST /api/v1/lineage``, forwarding them to the OpenLineage topic; it also serves
Prometheus metrics and the liveness and readiness probes
(:mod:`lineage_processors.ops.observability`).

Built by :func:`build_app` from explicit settings and an open store; nothing here is a module
global, so tests and the CLI can build as many apps as they need.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faust
from faust.app.base import BootStrategy

from lineage_collector.catalog import load_catalog
from lineage_collector.registry import SchemaRegistryClient
from lineage_processors.derive.attribution import SWEEP_SECONDS, Attribution
from lineage_processors.derive.closures import extend_closures
from lineage_processors.derive.state import DERIVE_SECONDS, Derivation
from lineage_processors.derive.tag_impacts import propagate_tags
from lineage_processors.errors import ProcessorError
from lineage_processors.ingest.fast.inference import InferenceAvro
from lineage_processors.ingest.fast.staged import GraphStage
from lineage_processors.ingest.fast_processor import StagedGraphProcessor
from lineage_processors.ingest.inference_processor import InferenceProcessor
from lineage_processors.ingest.processor import (
    GraphProcessor,
    Rejected,
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
from lineage_processors.worker.consumer import BatchConsumer
from lineage_processors.worker.http_api import guard
from lineage_processors.worker.http_api import install as install_http
from lineage_processors.worker.kafka_security import aiokafka_options, faust_credentials
from lineage_processors.worker.log import logging_config
from lineage_processors.worker.stopping import (
    BATCH_GRACE_SECONDS,
    Deadline,
    exit_code,
    exit_now,
    wait_for_threads,
)
from lineage_processors.worker.topics import ensure_topics

log = logging.getLogger(__name__)

# Predictions per InferenceBatch record as the SDK's inference logger sends them (at most).
INFERENCE_BATCH = 2000
# Rows a graph event makes, about: batches of graph events are cut this much smaller, so a
# batch holds about as many rows, and as much memory, whatever it carries.
GRAPH_ROWS = 10


# Exit status of a worker whose ingest stopped on an error it cannot retry (the DLQ refused).
EXIT_INGEST_FAILED = 70


class DeadLetterError(ProcessorError):
    """The dead-letter topic did not take a record."""


class Ingest:
    """The worker's consumers, one per topic, run side by side until the worker stops."""

    def __init__(
        self, consumers: list[BatchConsumer[Any]], grace: float = BATCH_GRACE_SECONDS
    ) -> None:
        self.consumers = consumers
        self.grace = grace

    async def run(self) -> None:
        tasks = [asyncio.ensure_future(c.run()) for c in self.consumers]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a consumer that failed (the DLQ refused) stops the worker
        finally:
            for c in self.consumers:
                c.stop()
            # The batches in hand get the grace to be stored and committed. One that is not
            # by then (a store that refuses writes, a long insert) is cancelled, retries and
            # all: its offsets stay uncommitted, and it is read again at the next start.
            _, late = await asyncio.wait(tasks, timeout=self.grace)
            for task, c in zip(tasks, self.consumers, strict=True):
                if task in late:
                    task.cancel()
                    log.warning(
                        "%s: the batch in hand was not stored within %gs of the stop; left "
                        "uncommitted, it is read again at the next start",
                        c.topic,
                        self.grace,
                    )
            await asyncio.gather(*tasks, return_exceptions=True)


def dlq_headers(bad: Rejected) -> list[tuple[str, bytes]]:
    """Headers that let someone find and replay a dead letter: where it came from and why."""
    error = str(bad.error)[:1000]
    return [
        ("lineage.original.topic", bad.record.topic.encode()),
        ("lineage.original.partition", str(bad.record.partition).encode()),
        ("lineage.original.offset", str(bad.record.offset).encode()),
        ("lineage.stage", bad.stage.encode()),
        ("lineage.exception.class", type(bad.error).__name__.encode()),
        ("lineage.exception.message", error.encode("utf-8", "replace")),
    ]


class _WithoutFaustConsumer(BootStrategy):
    """faust's usual start-up less its consumer: the worker reads Kafka with BatchConsumer."""

    enable_kafka_consumer = False


def build_app(
    settings: WorkerSettings, store: Store, derived: Store, reads: ReadPool, bootstrap: str
) -> faust.App:
    """A faust app wired to ``store``, which it writes, to ``derived``, another session of
    the same store that keeps derived state, and to ``reads``, the sessions people's reads
    run on; run it with :func:`run_worker`."""
    datadir = (settings.worker_state_dir / "faust").resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    brokers = ";".join(f"kafka://{b.strip()}" for b in bootstrap.split(","))
    security = settings.kafka_security()
    metrics = WorkerMetrics.fresh()
    app = faust.App(
        settings.consumer_group,
        broker=brokers,
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
        broker_credentials=faust_credentials(security),
        # Every request passes the token check first (lineage_processors.worker.auth).
        web_application_options={"middlewares": [guard(Tokens.from_settings(settings), metrics)]},
    )
    app.boot_strategy = _WithoutFaustConsumer(app)
    # One thread owns all store calls: chDB is in-process and blocking, and a single
    # writer keeps inserts in the order batches were read.
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
    app.store_executor = executor  # type: ignore[attr-defined]
    # From the first step of a stop on, the process has STOP_SECONDS left
    # (lineage_processors.worker.stopping).
    deadline = Deadline()
    app.stop_deadline = deadline  # type: ignore[attr-defined]

    def stop_begins(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        deadline.start()

    app.on_before_shutdown.connect(stop_begins)

    async def dead_letter(bad: Rejected) -> None:
        try:
            await app.producer.send_and_wait(
                settings.topic_dlq, bad.record.key, bad.record.value, None, None, dlq_headers(bad)
            )
        except Exception as exc:
            r = bad.record
            raise DeadLetterError(
                f"the dead-letter topic {settings.topic_dlq} refused {r.topic}:{r.partition}@"
                f"{r.offset} ({type(exc).__name__}: {exc}); nothing from that batch on is "
                "committed. Fix the topic (size limit, ACLs, existence) and restart the worker"
            ) from exc

    sink = ClickHouseSink(store)
    registry = (
        SchemaRegistryClient(settings.schema_registry_url) if settings.schema_registry_url else None
    )
    catalog = load_catalog()
    limit = settings.max_event_bytes
    # State derived from lineage (attribution, closures, tag impacts) catches up with the
    # stored rows every DERIVE_SECONDS, on a thread and a store session of its own: beside
    # the inserts, never holding a batch back. Predictions need none: ClickHouse attributes
    # them as they are inserted, so the inference path runs no step.
    deriving = ThreadPoolExecutor(max_workers=1, thread_name_prefix="derive")
    app.deriving = deriving  # type: ignore[attr-defined]
    attribution = Attribution(derived)
    derivation = Derivation(
        derived,
        [
            attribution.after_write,
            functools.partial(extend_closures, derived),
            functools.partial(propagate_tags, derived),
        ],
        topics=[settings.topic_events, settings.topic_openlineage],
        max_records=settings.derive_max_records,
    )
    # Batches of our current graph events are mapped by ClickHouse; the rest as below.
    processor = StagedGraphProcessor(
        GraphStage(catalog, limit),
        avro_mapper(catalog, registry),
        sink,
        executor,
        dead_letter,
        max_bytes=limit,
        on_stored=derivation.stored,
        metrics=metrics,
    )
    # Predictions in the current schema are decoded by ClickHouse; the rest as above.
    inference_processor = InferenceProcessor(
        InferenceAvro(catalog.by_name("lineage.events.InferenceBatch"), limit),
        avro_mapper(catalog, registry),
        sink,
        executor,
        dead_letter,
        max_bytes=limit,
        metrics=metrics,
    )
    ol_processor = GraphProcessor(
        openlineage_mapper,
        sink,
        executor,
        dead_letter,
        max_bytes=settings.ingest_max_bytes,
        on_stored=derivation.stored,
        metrics=metrics,
    )

    # Every timer and loop but ingest: a failure is counted and logged, never the end.
    background = Background(app, metrics)

    @background.loop("derive", DERIVE_SECONDS)
    async def derive() -> float:
        # Runs start DERIVE_SECONDS apart, or at once after a run that took longer: a timer
        # would pause that long after every run, and in a backlog derived state would trail
        # the rows by a run and a pause rather than by a run.
        loop = asyncio.get_running_loop()
        started = loop.time()
        await loop.run_in_executor(deriving, derivation.run)
        return 0.0 if derivation.behind else max(0.0, DERIVE_SECONDS - (loop.time() - started))

    @background.timer("attribution_sweep", SWEEP_SECONDS)
    async def sweep_attributions() -> None:
        # Settles what a rate-limited dictionary reload left pending, and predictions that
        # raced a reload.
        await asyncio.get_running_loop().run_in_executor(deriving, attribution.sweep)

    # batch_size counts events; a graph event makes about GRAPH_ROWS rows, an inference
    # record carries up to INFERENCE_BATCH predictions of one row each.
    graph_records = max(1, settings.batch_size // GRAPH_ROWS)
    inference_records = max(1, settings.batch_size // INFERENCE_BATCH)
    stored_batches = 0

    def kill_after_store() -> None:
        nonlocal stored_batches
        stored_batches += 1
        if stored_batches == settings.fault_kill_after_store:
            log.warning("LINEAGE_FAULT_KILL_AFTER_STORE: killing the worker before its commit")
            os.kill(os.getpid(), signal.SIGKILL)

    app.ingest = Ingest(  # type: ignore[attr-defined]
        [
            BatchConsumer(
                topic=topic,
                bootstrap=bootstrap,
                group=settings.consumer_group,
                handler=proc,
                on_assigned=proc.forget,
                max_records=records,
                max_wait=settings.batch_seconds,
                client_id=f"lineage-worker-{name}",
                on_stored=kill_after_store,
                client_options=aiokafka_options(security),
                on_committed=proc.committed,
            )
            for name, topic, proc, records in (
                ("graph", settings.topic_events, processor, graph_records),
                # Each record there carries up to INFERENCE_BATCH predictions.
                ("inferences", settings.topic_inferences, inference_processor, inference_records),
                ("openlineage", settings.topic_openlineage, ol_processor, graph_records),
            )
        ]
    )

    @app.task  # type: ignore[untyped-decorator]
    async def ingest() -> None:
        try:
            await app.ingest.run()  # type: ignore[attr-defined]
        except Exception as exc:
            # Nothing past the failed batch was committed: exit, and let whoever restarts the
            # worker (`lineage up`, systemd, Kubernetes) read it again.
            log.critical("ingest stopped, the worker exits: %s", exc)
            logging.shutdown()
            os._exit(EXIT_INGEST_FAILED)

    # /sql and POST /api/v1/lineage; reads on sessions and threads of their own.
    install_http(app, settings, reads, metrics)
    # /metrics, /healthz, /readyz, and the lag and coverage timers behind them.
    writes = {
        settings.topic_events: processor.write_failures,
        settings.topic_inferences: inference_processor.write_failures,
        settings.topic_openlineage: ol_processor.write_failures,
    }
    install_observability(app, settings, store, executor, bootstrap, metrics, writes)
    app.metrics = metrics  # type: ignore[attr-defined]
    app.lineage_processor = processor  # type: ignore[attr-defined]
    app.openlineage_processor = ol_processor  # type: ignore[attr-defined]
    return app


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
    app: faust.App | None = None
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
        app = build_app(settings, store, derived, reads, bootstrap)
        log_config = logging_config(
            settings.log_level,
            log_file,
            max_bytes=settings.log_max_bytes,
            backups=settings.log_backups,
        )
        worker = service_worker(app, settings.log_level, log_config)
        log.info(
            "worker consuming %s, %s and %s from %s",
            settings.topic_events,
            settings.topic_inferences,
            settings.topic_openlineage,
            bootstrap,
        )
        worker.execute_from_commandline()
    finally:
        deadline = app.stop_deadline if app is not None else Deadline()  # type: ignore[attr-defined]
        if app is not None:
            # Idle threads leave now; a derive run or an insert still going gets what is
            # left of the stop's time.
            app.deriving.shutdown(wait=False)  # type: ignore[attr-defined]
            app.store_executor.shutdown(wait=False)  # type: ignore[attr-defined]
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
