"""``lineage bench sdk``: SDK inference logging into real Kafka, against its ceilings.

Every figure comes from one run on one machine, so ratios between them mean something even on
a noisy host: the SDK's rate against fastavro encoding the same batches alone, and against the
raw producer sending those very bytes.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer

from lineage_collector import LineageClient
from lineage_collector.delivery import DEFAULT_CONFIG
from lineage_processors.bench.result import BenchResult
from lineage_processors.settings import WorkerSettings
from lineage_processors.worker.topics import ensure_topics


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "n/a"


def _sample_inference(i: int) -> dict[str, Any]:
    return {
        "inference_id": f"pred-{i}",
        "output": "billing" if i % 3 else "refund",
        "subject_id": f"customer-{i % 50_000}",
    }


def bench_sdk(
    settings: WorkerSettings, events: int, say: Callable[[str], None] = print
) -> BenchResult:
    """SDK inference logging into real Kafka, with the fastavro and raw-producer ceilings."""
    tag = uuid.uuid4().hex[:8]
    bench_settings = settings.replace(
        topic_inferences=f"bench.{tag}.inferences",
        topic_events=f"bench.{tag}.events",
        topic_openlineage=f"bench.{tag}.openlineage",
        topic_dlq=f"bench.{tag}.dlq",
        subject_key=settings.subject_key.reveal() or "bench-key-" + "0" * 32,
        spool_dir=settings.state_dir / "bench-spool" / tag,
    )
    bootstrap = settings.resolve_bootstrap()
    ensure_topics(bench_settings, bootstrap)
    result = BenchResult(f"SDK inference logging, {events:,} events")
    client = LineageClient.from_settings(bench_settings, namespace="bench")
    batch_schema = client.catalog.by_name("lineage.events.InferenceBatch")

    # Ceiling 1: fastavro encoding the same batches, nothing else.
    sample = [_sample_inference(i) for i in range(2000)]
    records = [
        {
            "inference_id": s["inference_id"],
            "event_time": 1_700_000_000_000 + i,
            "inputs": [],
            "output": s["output"],
            "subject": client.pseudonym(s["subject_id"]),
        }
        for i, s in enumerate(sample)
    ]
    batch = {
        "event_id": str(uuid.uuid4()),
        "event_time": 1_700_000_000_000,
        "producer": "b",
        "namespace": "bench",
        "model": "intent",
        "model_version": "3.4.2",
        "deployment": None,
        "inferences": records,
    }
    rounds = max(1, events // len(records))
    say(f"fastavro encode: {rounds} batches of {len(records)}")
    start = time.perf_counter()
    payloads = [client.encode(batch_schema, batch) for _ in range(rounds)]
    encode_s = time.perf_counter() - start
    result.add("fastavro encode ceiling", _rate(rounds * len(records), encode_s))

    # Ceiling 2: the raw producer sending those very bytes.
    raw = Producer({**DEFAULT_CONFIG, "bootstrap.servers": bootstrap})
    say("raw producer: same bytes, no SDK")
    start = time.perf_counter()
    for payload in payloads:
        while True:
            try:
                raw.produce(bench_settings.topic_inferences, payload, b"model:intent@3.4.2")
                break
            except BufferError:
                raw.poll(0.01)
        raw.poll(0)
    raw.flush(60)
    raw_s = time.perf_counter() - start
    result.add("raw producer ceiling", _rate(rounds * len(records), raw_s))

    # Ours: the inference logger, end to end into Kafka, timing the caller's side too.
    logger = client.inference_logger()
    say(f"SDK: logging {events:,} predictions")
    latencies = []
    start = time.perf_counter()
    for i in range(events):
        s = sample[i % len(sample)]
        if i % 64 == 0:
            t0 = time.perf_counter_ns()
            logger.log(
                f"p{i}",
                model="intent",
                model_version="3.4.2",
                output=s["output"],
                subject_id=s["subject_id"],
            )
            latencies.append(time.perf_counter_ns() - t0)
        else:
            logger.log(
                f"p{i}",
                model="intent",
                model_version="3.4.2",
                output=s["output"],
                subject_id=s["subject_id"],
            )
    accepted_s = time.perf_counter() - start
    logger.close(120)
    total_s = time.perf_counter() - start
    sdk_rate = events / total_s
    result.add("SDK, accepted by log()", _rate(events, accepted_s))
    result.add("SDK, acknowledged by Kafka", f"{sdk_rate:,.0f}/s")
    latencies.sort()
    result.add(
        "log() p50 / p99 / max",
        f"{statistics.median(latencies) / 1000:.1f} / "
        f"{latencies[int(len(latencies) * 0.99)] / 1000:.1f} / "
        f"{latencies[-1] / 1000:.1f} µs",
    )
    result.add("SDK / fastavro ceiling", f"{sdk_rate / (rounds * len(records) / encode_s):.2f}")
    result.add("SDK / raw producer ceiling", f"{sdk_rate / (rounds * len(records) / raw_s):.2f}")
    result.add("spooled, dropped", f"{client.producer.spooled}, {logger.dropped}")
    client.close()
    return result
