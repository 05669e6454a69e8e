"""The SDK bench on a real broker: every figure reported, nothing spooled or dropped."""

from __future__ import annotations

from lineage_processors.bench.sdk import _rate, bench_sdk
from lineage_processors.settings import WorkerSettings


def test_every_figure_of_a_small_run(settings: WorkerSettings) -> None:
    said: list[str] = []
    result = bench_sdk(settings, 2500, say=said.append)
    shown = dict(result.figures)
    assert list(shown) == [
        "fastavro encode ceiling",
        "raw producer ceiling",
        "SDK, accepted by log()",
        "SDK, acknowledged by Kafka",
        "log() p50 / p99 / max",
        "SDK / fastavro ceiling",
        "SDK / raw producer ceiling",
        "spooled, dropped",
    ]
    assert shown["spooled, dropped"] == "0, 0"
    assert said[0] == "fastavro encode: 1 batches of 2000"
    assert result.title == "SDK inference logging, 2,500 events"


def test_a_rate_over_no_time_is_not_a_number() -> None:
    assert _rate(1500, 0.5) == "3,000/s"
    assert _rate(1500, 0.0) == "n/a"
