"""The worker's Prometheus metrics: one typed bundle, made against a registry passed in.

Names follow Prometheus' conventions: the ``lineage_`` prefix, ``_total`` on counters, base
units (seconds, records, events) in the name, ``_ratio`` on shares between 0 and 1. The hot
path reports once per batch (kinds counted per batch, each histogram observed once), never
per record; lag and coverage are measured on timers (:mod:`lineage_processors.ops.lag`,
:mod:`lineage_processors.ops.coverage`) and set here.

Tests build a :meth:`WorkerMetrics.fresh` bundle and read exact samples off its registry.
"""

from __future__ import annotations

import math
import time
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from lineage_processors.ingest.reference.mapping import INFERENCE_COLUMNS, RAW_COLUMNS, RowBatch

if TYPE_CHECKING:
    from lineage_processors.ops.coverage import Coverage
    from lineage_processors.ops.lag import PartitionLag

# The classic text format, which every Prometheus 2.x reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# Events in one batch: from a single graph event to a full batch of predictions.
BATCH_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000)
# ClickHouse inserts of a batch: tens of milliseconds to seconds.
WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Event time to committed: the freshness target is 2 s; a backlog takes minutes.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)

# Predictions skip events_raw (see lineage_processors.ingest.reference.events); each is one event
# of this kind.
INFERENCE_KIND = "Inference"
_KIND = itemgetter(RAW_COLUMNS.index("kind"))
_RAW_TIME = itemgetter(RAW_COLUMNS.index("event_time"))
_PREDICTION_TIME = itemgetter(INFERENCE_COLUMNS.index("event_time"))


def event_kinds(batch: RowBatch) -> dict[str, int]:
    """Events in ``batch`` by kind: one per raw event, one per prediction."""
    kinds: dict[str, int] = Tally(map(_KIND, batch.events_raw))
    if batch.inferences:
        kinds[INFERENCE_KIND] = kinds.get(INFERENCE_KIND, 0) + len(batch.inferences)
    return kinds


def _millis(value: int | datetime) -> int:
    # Our own events keep epoch milliseconds; OpenLineage's are datetimes.
    return value if isinstance(value, int) else int(value.timestamp() * 1000)


def oldest_event_ms(batch: RowBatch) -> int | None:
    """Event time of the oldest event in ``batch`` (epoch ms), None when it has none."""
    oldest = [
        _millis(min(map(column, rows)))
        for column, rows in ((_RAW_TIME, batch.events_raw), (_PREDICTION_TIME, batch.inferences))
        if rows
    ]
    return min(oldest) if oldest else None


@dataclass
class BatchReport:
    """What happened to one batch of one topic, counted once by the hot path."""

    topic: str
    records: int  # Kafka records read
    events: int  # events in them (a record of predictions holds many)
    consumed: dict[str, int] = field(default_factory=dict)  # decoded, by kind
    written: dict[str, int] = field(default_factory=dict)  # stored now, by kind
    failed: dict[str, int] = field(default_factory=dict)  # refused, by stage
    dead_lettered: dict[str, int] = field(default_factory=dict)  # sent to the DLQ, by stage
    write_seconds: float | None = None  # the ClickHouse inserts, when there were any
    oldest_event_ms: int | None = None  # event time of the batch's oldest event


class WorkerMetrics:
    """Every metric the worker exposes, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # `_created` series would double what every scrape carries, and nothing reads them.
        # (A switch of the client library's, for the whole process.)
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry
        r = registry
        self.records_consumed = Counter(
            "lineage_records_consumed", "Kafka records read by the worker.", ["topic"], registry=r
        )
        self.http_refused = Counter(
            "lineage_http_refused",
            "HTTP requests refused before any work: `read` or `write` for a missing or wrong "
            "token, `busy` for ingest past LINEAGE_INGEST_MAX_IN_FLIGHT.",
            ["reason"],
            registry=r,
        )
        self.events_consumed = Counter(
            "lineage_events_consumed",
            "Events read and decoded, by topic and event kind (each prediction is one).",
            ["topic", "kind"],
            registry=r,
        )
        self.events_written = Counter(
            "lineage_events_written",
            "Events whose rows this worker wrote to ClickHouse, by topic and event kind; "
            "events found already stored after a restart are not written again.",
            ["topic", "kind"],
            registry=r,
        )
        self.events_failed = Counter(
            "lineage_events_failed",
            "Records that could not be processed, by topic and the stage that refused them "
            "(size, decode, map): a record that fails has no kind to trust.",
            ["topic", "stage"],
            registry=r,
        )
        self.events_dead_lettered = Counter(
            "lineage_events_dead_lettered",
            "Records sent to the dead-letter topic, by original topic and stage.",
            ["topic", "stage"],
            registry=r,
        )
        self.batch_events = Histogram(
            "lineage_batch_events",
            "Events per batch.",
            ["topic"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.write_seconds = Histogram(
            "lineage_clickhouse_write_seconds",
            "Time from a batch's first insert until ClickHouse acknowledged every table of it "
            "(retries included).",
            ["topic"],
            buckets=WRITE_BUCKETS,
            registry=r,
        )
        self.end_to_end = Histogram(
            "lineage_end_to_end_latency_seconds",
            "Per batch: from the event time of its oldest event to the commit of its offsets.",
            ["topic"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.clickhouse_errors = Counter(
            "lineage_clickhouse_errors",
            "ClickHouse calls that failed, by operation (write, coverage, ready).",
            ["operation"],
            registry=r,
        )
        self.clickhouse_retries = Counter(
            "lineage_clickhouse_retries",
            "Batch writes and follow-up steps tried again after ClickHouse refused them.",
            registry=r,
        )
        self.kafka_errors = Counter(
            "lineage_kafka_errors",
            "Kafka calls of the worker's own that failed, by operation (lag, ready).",
            ["operation"],
            registry=r,
        )
        self.background_errors = Counter(
            "lineage_background_errors",
            "Failed runs of the worker's background tasks (lag, coverage, derived state, "
            "attribution sweep), by task; each is logged and tried again at the next tick.",
            ["task"],
            registry=r,
        )
        self.lag_records = Gauge(
            "lineage_consumer_lag_records",
            "Records in the partition past the consumer group's committed offset.",
            ["topic", "partition"],
            registry=r,
        )
        self.lag_seconds = Gauge(
            "lineage_consumer_lag_seconds",
            "Age of the oldest record past the committed offset (its Kafka timestamp); "
            "0 when there is none.",
            ["topic", "partition"],
            registry=r,
        )
        self.lag_measured = Gauge(
            "lineage_consumer_lag_measured_timestamp_seconds",
            "When the lag was last measured.",
            registry=r,
        )
        self.attributed = Gauge(
            "lineage_coverage_inferences_attributed_ratio",
            "Share of stored predictions attributed to a training run (1 when there are none).",
            registry=r,
        )
        self.reaching_source = Gauge(
            "lineage_coverage_models_reaching_source_ratio",
            "Share of model versions whose upstream lineage reaches a source system.",
            registry=r,
        )
        self.runs_with_parameters = Gauge(
            "lineage_coverage_transformation_runs_with_parameters_ratio",
            "Share of transformation runs (runs of a job) that recorded parameters.",
            registry=r,
        )
        self.unknown_node_edges = Gauge(
            "lineage_coverage_edges_to_unknown_nodes",
            "Edges whose source or destination is not a known node.",
            registry=r,
        )
        self.unresolved = Gauge(
            "lineage_attribution_unresolved_inferences",
            "Predictions waiting for the training lineage of their model version.",
            registry=r,
        )
        self.coverage_measured = Gauge(
            "lineage_coverage_measured_timestamp_seconds",
            "When coverage was last measured.",
            registry=r,
        )
        self.coverage_seconds = Gauge(
            "lineage_coverage_query_seconds",
            "How long the last coverage measurement took on the store.",
            registry=r,
        )
        self._lag_labels: set[tuple[str, str]] = set()
        # Unknown until first measured: NaN compares false, so no alert reads a worker that
        # just started as coverage gone to zero.
        for gauge in self._coverage_gauges():
            gauge.set(math.nan)

    def _coverage_gauges(self) -> tuple[Gauge, ...]:
        return (
            self.attributed,
            self.reaching_source,
            self.runs_with_parameters,
            self.unknown_node_edges,
            self.unresolved,
        )

    @classmethod
    def fresh(cls) -> WorkerMetrics:
        """A bundle on a registry of its own, as tests and each worker app want."""
        return cls(CollectorRegistry(auto_describe=True))

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format, as served at ``/metrics``."""
        return generate_latest(self.registry)

    # -- the hot path: once per batch

    def batch_done(self, report: BatchReport, committed_at: float | None = None) -> None:
        """Count one batch, once its offsets were committed (at ``committed_at``, or now)."""
        topic = report.topic
        self.records_consumed.labels(topic).inc(report.records)
        self.batch_events.labels(topic).observe(report.events)
        for kind, n in report.consumed.items():
            self.events_consumed.labels(topic, kind).inc(n)
        for kind, n in report.written.items():
            self.events_written.labels(topic, kind).inc(n)
        for stage, n in report.failed.items():
            self.events_failed.labels(topic, stage).inc(n)
        for stage, n in report.dead_lettered.items():
            self.events_dead_lettered.labels(topic, stage).inc(n)
        if report.write_seconds is not None:
            self.write_seconds.labels(topic).observe(report.write_seconds)
        if report.oldest_event_ms is not None:
            now = time.time() if committed_at is None else committed_at
            self.end_to_end.labels(topic).observe(max(0.0, now - report.oldest_event_ms / 1000))

    def store_error(self, operation: str, retried: bool = False) -> None:
        self.clickhouse_errors.labels(operation).inc()
        if retried:
            self.clickhouse_retries.inc()

    # -- timers

    def set_lag(self, lags: Sequence[PartitionLag], measured_at: float) -> None:
        """Lag of every partition measured; partitions no longer measured are dropped."""
        seen: set[tuple[str, str]] = set()
        for lag in lags:
            labels = (lag.topic, str(lag.partition))
            seen.add(labels)
            self.lag_records.labels(*labels).set(lag.records)
            self.lag_seconds.labels(*labels).set(lag.seconds)
        for labels in self._lag_labels - seen:
            self.lag_records.remove(*labels)
            self.lag_seconds.remove(*labels)
        self._lag_labels = seen
        self.lag_measured.set(measured_at)

    def set_coverage(self, coverage: Coverage, measured_at: float, seconds: float) -> None:
        self.attributed.set(coverage.inferences_attributed)
        self.reaching_source.set(coverage.models_reaching_source)
        self.runs_with_parameters.set(coverage.runs_with_parameters)
        self.unknown_node_edges.set(coverage.edges_to_unknown_nodes)
        self.unresolved.set(coverage.unresolved_inferences)
        self.coverage_measured.set(measured_at)
        self.coverage_seconds.set(seconds)


def stage_counts(stages: Iterable[str]) -> dict[str, int]:
    """How many records each stage refused."""
    return dict(Tally(stages))


def batch_report(topic: str, records: int, batch: RowBatch, stages: Iterable[str]) -> BatchReport:
    """What is known of a batch once it is mapped: its kinds, failures and oldest event.

    The rest (written, dead-lettered, write time) is filled in as it is stored.
    """
    return BatchReport(
        topic=topic,
        records=records,
        events=batch.events,
        consumed=event_kinds(batch),
        failed=stage_counts(stages),
        oldest_event_ms=oldest_event_ms(batch),
    )
