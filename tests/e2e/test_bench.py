"""The benchmark commands run end to end on small counts and report every figure.

Speed is never asserted here (the machine is shared); only that the commands work and say
what they measured, so they do not rot between the runs that matter.
"""

from __future__ import annotations

from collector.config import Settings
from tests.conftest import run_cli


def test_bench_sdk_reports_ours_and_the_ceilings(settings: Settings) -> None:
    out = run_cli(settings, "bench", "sdk", "--events", "6000", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    for figure in (
        "fastavro encode ceiling",
        "raw producer ceiling",
        "SDK, acknowledged by Kafka",
        "log() p50 / p99 / max",
        "SDK / raw producer ceiling",
    ):
        assert figure in out.stdout
    assert "spooled, dropped            0, 0" in out.stdout


def test_bench_ingest_drains_the_backlog(settings: Settings) -> None:
    for kind in ("inferences", "graph"):
        out = run_cli(settings, "bench", "ingest", "--kind", kind, "--events", "3000", timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        [line] = [ln for ln in out.stdout.splitlines() if ln.startswith("end to end (Kafka")]
        rate = line.split("ClickHouse)")[1].split()[0]
        assert int(rate.replace(",", "")) > 0  # every event was stored, at some rate
        for figure in (
            "fastavro decode ceiling",
            "raw Kafka consume ceiling",
            "end to end (Kafka -> worker -> ClickHouse)",
            "worker resident memory",
        ):
            assert figure in out.stdout
