"""The benchmark commands run end to end on small counts and report every figure.

Speed is never asserted here (the machine is shared); only that the commands work and say
what they measured, so they do not rot between the runs that matter.
"""

from __future__ import annotations

import re

import pytest

from lineage_processors.settings import WorkerSettings
from tests.conftest import run_cli


def figure(out: str, name: str) -> str:
    """The value printed after a figure's name."""
    [line] = [ln for ln in out.splitlines() if ln.startswith(name)]
    return line[len(name) :].strip()


def test_bench_sdk_reports_ours_and_the_ceilings(settings: WorkerSettings) -> None:
    out = run_cli(settings, "bench", "sdk", "--events", "6000", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    for name in (
        "fastavro encode ceiling",
        "raw producer ceiling",
        "SDK, acknowledged by Kafka",
        "log() p50 / p99 / max",
        "SDK / raw producer ceiling",
    ):
        assert name in out.stdout
    assert "spooled, dropped            0, 0" in out.stdout


@pytest.mark.parametrize("kind", ["inferences", "graph"])
def test_bench_ingest_drains_the_backlog(settings: WorkerSettings, kind: str) -> None:
    out = run_cli(settings, "bench", "ingest", "--kind", kind, "--events", "3000", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    rate = figure(out.stdout, "end to end (Kafka -> worker -> ClickHouse)").split()[0]
    assert int(rate.replace(",", "")) > 0  # every event was stored, at some rate
    for name in (
        "fastavro decode ceiling",
        "raw Kafka consume ceiling",
        "end to end / raw consume",
        "end to end / fastavro decode",
    ):
        assert name in out.stdout
    memory = figure(out.stdout, "worker resident memory")
    assert re.fullmatch(
        r"\d+ MB steady, \d+ MB peak, \d+ MB high-water \(steady: \d+ MB anonymous, "
        r"ClickHouse tracking \d+ MB of it; \d+ MB file-backed\)",
        memory,
    ), memory


@pytest.mark.parametrize(("kind", "rate"), [("inferences", 2000), ("graph", 300)])
def test_bench_ingest_at_a_steady_rate_measures_freshness(
    settings: WorkerSettings, kind: str, rate: int
) -> None:
    out = run_cli(
        settings,
        "bench",
        "ingest",
        "--kind",
        kind,
        "--rate",
        str(rate),
        "--seconds",
        "2",
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    sent = int(figure(out.stdout, "sent").split()[0].replace(",", ""))
    assert sent == rate * 2  # every tick's events went out, whatever the pace
    assert figure(out.stdout, "stored") == f"{sent:,} of {sent:,}"
    latencies = figure(out.stdout, "event time -> queryable p50 / p95 / p99 / max")
    match = re.fullmatch(r"([\d,]+) / ([\d,]+) / ([\d,]+) / ([\d,]+) ms", latencies)
    assert match, latencies
    p50, p95, p99, worst = (int(g.replace(",", "")) for g in match.groups())
    assert 0 <= p50 <= p95 <= p99 <= worst
    assert "kept for a look" not in out.stdout
    assert figure(out.stdout, "worker resident memory").endswith("file-backed)")


def test_bench_rate_must_be_positive(settings: WorkerSettings) -> None:
    out = run_cli(settings, "bench", "ingest", "--rate", "0", timeout=60)
    assert out.returncode == 2
    assert "not a positive whole number" in out.stderr
