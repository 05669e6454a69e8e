"""What the worker shows SREs: ``/metrics``, ``/healthz``, ``/readyz``, and the timers behind them.

:func:`install` adds them to a worker's faust app: the three pages on its web server, a timer
measuring consumer lag from Kafka (:mod:`processors.lag`, in a thread of its own) and one
measuring coverage from the store (:mod:`processors.coverage`, on the store thread, between
batches). A failed measurement is counted and logged; it never stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor

import faust
from faust.web import Request, Response, View

from collector.config import Settings
from processors.coverage import Coverage, measure_coverage
from processors.errors import StoreError
from processors.health import KafkaProbe, readiness, store_probe
from processors.lag import LagError, LagMonitor
from processors.metrics import CONTENT_TYPE, WorkerMetrics
from processors.store.connect import Store

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"


def install(
    app: faust.App,
    settings: Settings,
    store: Store,
    store_executor: Executor,
    bootstrap: str,
    metrics: WorkerMetrics,
) -> None:
    """Serve metrics and probes from ``app`` and start the lag and coverage timers."""
    client_config = settings.kafka_security().librdkafka()
    kafka = KafkaProbe(bootstrap, settings.topic_events, client_config)
    store_ok = store_probe(store)

    class MetricsView(View):
        """Prometheus' text format."""

        async def get(self, request: Request) -> Response:
            # As a header: aiohttp refuses a content_type argument that carries a charset,
            # and Prometheus' text format names one.
            return self.bytes(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    class HealthView(View):
        """Alive: the event loop answers. Kubernetes restarts a worker that does not."""

        async def get(self, request: Request) -> Response:
            return self.json({"status": "alive"})

    class ReadyView(View):
        """Ready: Kafka and ClickHouse both answer; 503 names the one that does not."""

        async def get(self, request: Request) -> Response:
            state = await readiness(kafka, store_ok, store_executor)
            for c in state.checks:
                if c.ok:
                    continue
                if c.component == "kafka":
                    metrics.kafka_errors.labels("ready").inc()
                else:
                    metrics.store_error("ready")
            return self.json(state.to_json(), status=200 if state.ready else 503)

    app.page(METRICS_PATH)(MetricsView)
    app.page(HEALTH_PATH)(HealthView)
    app.page(READY_PATH)(ReadyView)

    if settings.lag_interval > 0:
        monitor = LagMonitor(
            bootstrap,
            settings.consumer_group,
            [settings.topic_events, settings.topic_inferences, settings.topic_openlineage],
            client_config,
        )

        @app.timer(interval=settings.lag_interval)  # type: ignore[untyped-decorator]
        async def measure_lag() -> None:
            try:
                # A thread of the loop's default pool: Kafka round trips must not hold up
                # the store thread, nor the store thread them.
                lags = await asyncio.get_running_loop().run_in_executor(None, monitor.measure)
            except LagError as exc:
                metrics.kafka_errors.labels("lag").inc()
                log.warning("%s; trying again in %.0fs", exc, settings.lag_interval)
                return
            metrics.set_lag(lags, time.time())

    if settings.coverage_interval > 0:

        def timed() -> tuple[Coverage, float]:
            # Timed on the store thread: the time spent queueing behind a batch is not the
            # query's.
            started = time.monotonic()
            return measure_coverage(store), time.monotonic() - started

        @app.timer(interval=settings.coverage_interval)  # type: ignore[untyped-decorator]
        async def measure_store_coverage() -> None:
            try:
                coverage, seconds = await asyncio.get_running_loop().run_in_executor(
                    store_executor, timed
                )
            except StoreError as exc:
                metrics.store_error("coverage")
                log.warning(
                    "coverage not measured, trying again in %.0fs: %s",
                    settings.coverage_interval,
                    exc,
                )
                return
            metrics.set_coverage(coverage, time.time(), seconds)
