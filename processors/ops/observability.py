"""What the worker shows SREs: ``/metrics``, ``/healthz``, ``/readyz``, and the timers behind them.

:func:`install` adds them to a worker's faust app: the three pages on its web server, a timer
measuring consumer lag from Kafka (:mod:`lineage_processors.ops.lag`, in a thread of its own) and
one measuring coverage from the store (:mod:`lineage_processors.ops.coverage`, on the store thread,
between batches). A failed measurement is counted and logged
(:mod:`lineage_processors.worker.background`); it never stops the worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from concurrent.futures import Executor

import faust
from faust.web import Request, Response, View

from lineage_processors.errors import StoreError
from lineage_processors.ops.coverage import Coverage, measure_coverage
from lineage_processors.ops.health import (
    KafkaProbe,
    WriteFailures,
    readiness,
    store_probe,
    writes_check,
)
from lineage_processors.ops.lag import LagError, LagMonitor
from lineage_processors.ops.metrics import CONTENT_TYPE, WorkerMetrics
from lineage_processors.settings import WorkerSettings
from lineage_processors.store.connect import Store
from lineage_processors.worker.background import Background

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"


def install(
    app: faust.App,
    settings: WorkerSettings,
    store: Store,
    store_executor: Executor,
    bootstrap: str,
    metrics: WorkerMetrics,
    writes: Mapping[str, WriteFailures] | None = None,
) -> None:
    """Serve metrics and probes from ``app`` and start the lag and coverage timers.
    ``writes`` are the write failures of the consumers, by topic, that readiness reads."""
    client_config = settings.kafka_security().librdkafka()
    kafka = KafkaProbe(bootstrap, settings.topic_events, client_config)
    store_ok = store_probe(store)

    class MetricsView(View):
        """Prometheus' text format."""

        async def get(self, request: Request) -> Response:
            # As a header: aiohttp refuses a content_type argument that carries a charset,
            # and Prometheus' text format names one.
            return self.bytes(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    alive: dict[str, str] = {"status": "alive"}
    if settings.worker_instance:
        # How `lineage up` tells its own worker from any other server on the port.
        alive["instance"] = settings.worker_instance

    class HealthView(View):
        """Alive: the event loop answers. Kubernetes restarts a worker that does not."""

        async def get(self, request: Request) -> Response:
            return self.json(alive)

    class ReadyView(View):
        """Ready: Kafka and ClickHouse both answer, and the worker's writes have not been
        failing for longer than LINEAGE_READY_WRITE_FAILURE_SECONDS; 503 names what is not
        so."""

        async def get(self, request: Request) -> Response:
            written = writes_check(writes or {}, settings.ready_write_failure_seconds)
            state = await readiness(kafka, store_ok, store_executor, (written,))
            for c in state.checks:
                if c.ok:
                    continue
                if c.component == "kafka":
                    metrics.kafka_errors.labels("ready").inc()
                elif c.component == "clickhouse":
                    metrics.store_error("ready")
                # Failed writes were counted as they failed (operation="write").
            return self.json(state.to_json(), status=200 if state.ready else 503)

    app.page(METRICS_PATH)(MetricsView)
    app.page(HEALTH_PATH)(HealthView)
    app.page(READY_PATH)(ReadyView)

    # Timers whose failures are counted and logged, never the worker's end.
    background = Background(app, metrics)

    if settings.lag_interval > 0:
        monitor = LagMonitor(
            bootstrap,
            settings.consumer_group,
            [settings.topic_events, settings.topic_inferences, settings.topic_openlineage],
            client_config,
        )

        @background.timer("lag", settings.lag_interval)
        async def measure_lag() -> None:
            try:
                # A thread of the loop's default pool: Kafka round trips must not hold up
                # the store thread, nor the store thread them.
                lags = await asyncio.get_running_loop().run_in_executor(None, monitor.measure)
            except LagError:
                metrics.kafka_errors.labels("lag").inc()
                raise
            metrics.set_lag(lags, time.time())

    if settings.coverage_interval > 0:

        def timed() -> tuple[Coverage, float]:
            # Timed on the store thread: the time spent queueing behind a batch is not the
            # query's.
            started = time.monotonic()
            return measure_coverage(store), time.monotonic() - started

        @background.timer("coverage", settings.coverage_interval)
        async def measure_store_coverage() -> None:
            try:
                coverage, seconds = await asyncio.get_running_loop().run_in_executor(
                    store_executor, timed
                )
            except StoreError:
                metrics.store_error("coverage")
                raise
            metrics.set_coverage(coverage, time.time(), seconds)
