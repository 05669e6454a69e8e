"""Every metric of the worker, exact sample values on a fresh registry; and their names."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lineage_collector.events import DatasetRef, Inference, TrainingRun
from lineage_processors.ingest.reference.events import map_event
from lineage_processors.ingest.reference.mapping import Origin, RowBatch
from lineage_processors.ops.coverage import Coverage
from lineage_processors.ops.lag import PartitionLag
from lineage_processors.ops.metrics import (
    BATCH_BUCKETS,
    LATENCY_BUCKETS,
    WRITE_BUCKETS,
    BatchReport,
    WorkerMetrics,
    batch_report,
    event_kinds,
    oldest_event_ms,
    stage_counts,
)

WHEN = datetime(2026, 5, 1, tzinfo=UTC)


def envelope(event_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": event_id, "event_time": WHEN, "producer": "p", "namespace": "ns", **fields}


def training(i: int) -> RowBatch:
    event = TrainingRun("churn", f"1.{i}", [DatasetRef("crm/a", "v1", "train")], run_id=f"r{i}")
    return map_event(
        "lineage.events.TrainingRun", envelope(f"t{i}", event.fields()), Origin("t", 0, i)
    )


def prediction(i: int) -> RowBatch:
    event = Inference(f"p{i}", model="churn", model_version="1.0", output="yes")
    return map_event(
        "lineage.events.Inference", envelope(f"i{i}", event.fields()), Origin("t", 0, 10 + i)
    )


def sample(m: WorkerMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_event_kinds_count_raw_events_and_each_prediction() -> None:
    batch = RowBatch()
    for part in (training(1), prediction(1), training(2), prediction(2), prediction(3)):
        batch.extend(part)
    assert event_kinds(batch) == {"TrainingRun": 2, "Inference": 3}
    assert event_kinds(RowBatch()) == {}


def test_stage_counts() -> None:
    assert stage_counts(["decode", "map", "decode"]) == {"decode": 2, "map": 1}


def test_batch_counters_and_histograms_exact() -> None:
    m = WorkerMetrics.fresh()
    m.batch_done(
        BatchReport(
            topic="lineage.events",
            records=7,
            events=5,
            consumed={"TrainingRun": 4, "Tag": 1},
            written={"TrainingRun": 3},
            failed={"decode": 2},
            dead_lettered={"decode": 1},
            write_seconds=0.2,
            oldest_event_ms=1_000_000,
        ),
        committed_at=1_003.5,
    )
    m.batch_done(BatchReport(topic="lineage.events", records=1, events=12_000), committed_at=2e3)
    t = "lineage.events"
    assert sample(m, "lineage_records_consumed_total", topic=t) == 8
    assert sample(m, "lineage_events_consumed_total", topic=t, kind="TrainingRun") == 4
    assert sample(m, "lineage_events_consumed_total", topic=t, kind="Tag") == 1
    assert sample(m, "lineage_events_written_total", topic=t, kind="TrainingRun") == 3
    assert sample(m, "lineage_events_written_total", topic=t, kind="Tag") is None
    assert sample(m, "lineage_events_failed_total", topic=t, stage="decode") == 2
    assert sample(m, "lineage_events_dead_lettered_total", topic=t, stage="decode") == 1
    # Batch sizes 5 and 12000: one in the bucket up to 10, both up to 25000.
    assert sample(m, "lineage_batch_events_count", topic=t) == 2
    assert sample(m, "lineage_batch_events_sum", topic=t) == 12_005
    assert sample(m, "lineage_batch_events_bucket", topic=t, le="1.0") == 0
    assert sample(m, "lineage_batch_events_bucket", topic=t, le="10.0") == 1
    assert sample(m, "lineage_batch_events_bucket", topic=t, le="10000.0") == 1
    assert sample(m, "lineage_batch_events_bucket", topic=t, le="25000.0") == 2
    # Only the first batch wrote and had events with a time.
    assert sample(m, "lineage_clickhouse_write_seconds_count", topic=t) == 1
    assert sample(m, "lineage_clickhouse_write_seconds_sum", topic=t) == pytest.approx(0.2)
    assert sample(m, "lineage_clickhouse_write_seconds_bucket", topic=t, le="0.1") == 0
    assert sample(m, "lineage_clickhouse_write_seconds_bucket", topic=t, le="0.25") == 1
    assert sample(m, "lineage_end_to_end_latency_seconds_count", topic=t) == 1
    assert sample(m, "lineage_end_to_end_latency_seconds_sum", topic=t) == pytest.approx(3.5)
    assert sample(m, "lineage_end_to_end_latency_seconds_bucket", topic=t, le="2.0") == 0
    assert sample(m, "lineage_end_to_end_latency_seconds_bucket", topic=t, le="5.0") == 1


def test_store_errors_and_retries() -> None:
    m = WorkerMetrics.fresh()
    m.store_error("write", retried=True)
    m.store_error("write", retried=True)
    m.store_error("coverage")
    assert sample(m, "lineage_clickhouse_errors_total", operation="write") == 2
    assert sample(m, "lineage_clickhouse_errors_total", operation="coverage") == 1
    assert sample(m, "lineage_clickhouse_retries_total") == 2


def test_lag_gauges_follow_the_partitions_measured() -> None:
    m = WorkerMetrics.fresh()
    m.set_lag([PartitionLag("a", 0, 12, 3.5), PartitionLag("a", 1, 0, 0.0)], measured_at=50.0)
    assert sample(m, "lineage_consumer_lag_records", topic="a", partition="0") == 12
    assert sample(m, "lineage_consumer_lag_seconds", topic="a", partition="0") == 3.5
    assert sample(m, "lineage_consumer_lag_records", topic="a", partition="1") == 0
    assert sample(m, "lineage_consumer_lag_measured_timestamp_seconds") == 50.0
    m.set_lag([PartitionLag("a", 1, 4, math.nan)], measured_at=55.0)
    assert sample(m, "lineage_consumer_lag_records", topic="a", partition="0") is None
    assert sample(m, "lineage_consumer_lag_records", topic="a", partition="1") == 4
    seconds = sample(m, "lineage_consumer_lag_seconds", topic="a", partition="1")
    assert seconds is not None and math.isnan(seconds)


def test_coverage_gauges() -> None:
    m = WorkerMetrics.fresh()
    unmeasured = sample(m, "lineage_coverage_inferences_attributed_ratio")
    assert unmeasured is not None and math.isnan(unmeasured)
    coverage = Coverage.from_counts(
        predictions=8,
        unresolved=2,
        models=4,
        models_reaching_source=1,
        runs=5,
        runs_with_parameters=2,
        edges_to_unknown_nodes=3,
    )
    m.set_coverage(coverage, measured_at=70.0, seconds=0.04)
    assert sample(m, "lineage_coverage_inferences_attributed_ratio") == 0.75
    assert sample(m, "lineage_attribution_unresolved_inferences") == 2
    assert sample(m, "lineage_coverage_models_reaching_source_ratio") == 0.25
    assert sample(m, "lineage_coverage_transformation_runs_with_parameters_ratio") == 0.4
    assert sample(m, "lineage_coverage_edges_to_unknown_nodes") == 3
    assert sample(m, "lineage_coverage_measured_timestamp_seconds") == 70.0
    assert sample(m, "lineage_coverage_query_seconds") == 0.04


def test_nothing_to_cover_is_full_coverage() -> None:
    empty = Coverage.from_counts(0, 0, 0, 0, 0, 0, 0)
    assert (empty.inferences_attributed, empty.models_reaching_source) == (1.0, 1.0)
    assert empty.runs_with_parameters == 1.0


def test_exposition_follows_prometheus_naming() -> None:
    m = WorkerMetrics.fresh()
    m.batch_done(BatchReport("t", 1, 1, {"Tag": 1}, {"Tag": 1}, {"map": 1}, {"map": 1}, 0.1, 1))
    m.store_error("write", retried=True)
    m.kafka_errors.labels("lag").inc()
    m.background_errors.labels("lag").inc()
    m.http_refused.labels("read").inc()
    m.set_lag([PartitionLag("t", 0, 1, 1.0)], 1.0)
    m.set_coverage(Coverage.from_counts(1, 0, 1, 1, 1, 1, 0), 1.0, 0.1)
    families = list(text_string_to_metric_families(m.exposition().decode()))
    assert len(families) == 23
    for family in families:
        assert family.name.startswith("lineage_"), family.name
        assert family.documentation, family.name
        names = {s.name for s in family.samples}
        if family.type == "counter":
            assert names == {f"{family.name}_total"}, names
        if family.type == "histogram":
            assert family.name.endswith(("_seconds", "_events")), family.name
        if family.name.endswith("_ratio"):
            assert all(0 <= s.value <= 1 for s in family.samples)


def test_bucket_bounds_rise() -> None:
    for buckets in (BATCH_BUCKETS, WRITE_BUCKETS, LATENCY_BUCKETS):
        assert list(buckets) == sorted(set(buckets))


def test_batch_report_from_a_mapped_batch() -> None:
    batch = RowBatch()
    for part in (training(1), prediction(1), prediction(2)):
        batch.extend(part)
    report = batch_report("t", 5, batch, ["decode", "size", "decode"])
    assert report == BatchReport(
        topic="t",
        records=5,
        events=3,
        consumed={"TrainingRun": 1, "Inference": 2},
        failed={"decode": 2, "size": 1},
        oldest_event_ms=int(WHEN.timestamp() * 1000),
    )


def test_oldest_event_in_epoch_millis_or_datetimes() -> None:
    batch = RowBatch()
    batch.extend(training(1))  # mapped from datetimes, as OpenLineage's are
    batch.inferences.append(("p", "m", "", 1_000, "", [], [], "", "e"))  # epoch ms
    assert oldest_event_ms(batch) == 1_000
    assert oldest_event_ms(training(2)) == int(WHEN.timestamp() * 1000)
    assert oldest_event_ms(RowBatch()) is None
