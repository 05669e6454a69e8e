"""A real Prometheus scrapes a real worker on real Kafka, with our alert rules loaded.

Through Prometheus' HTTP API: exact event counts by topic and kind, a poison record counted
failed and dead-lettered, coverage shares exactly as the lineage sent implies, lag rising
while the store refuses writes (with the ClickHouse-errors alert pending) and back to zero
once it takes them again. Every dashboard query is valid PromQL on that Prometheus.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from lineage_collector import DatasetRef, LineageClient
from lineage_collector.events import SourceExtraction, TrainingRun, TransformationRun
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, free_port, isolated_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TRAININGS_WHILE_STORE_REFUSES = 40


class PrometheusServer:
    """Debian's prometheus, scraping one worker every second, with our rules."""

    def __init__(self, directory: Path, worker_port: int) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail(
                "prometheus not found: install Debian's prometheus package "
                "(`make system-deps`, or `apt-get install prometheus`)",
                pytrace=False,
            )
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "prometheus.yml"
        config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(DEPLOY / "prometheus" / "lineage-rules.yml")],
                    "scrape_configs": [
                        {
                            "job_name": "lineage-worker",
                            "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}],
                        }
                    ],
                }
            )
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not self._ready():
            assert self.proc.poll() is None, f"prometheus exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"prometheus not ready:\n{self.log()}"
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def value(self, query: str) -> float | None:
        """The single value of an instant query, or None when it has no series."""
        result = self.api("query", query=query)["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for(
        self, query: str, ok: Callable[[float | None], bool], worker: WorkerProcess, timeout=90.0
    ) -> float | None:
        deadline = time.monotonic() + timeout
        got = self.value(query)
        while not ok(got):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{query} = {got} after {timeout:.0f}s\nworker log:\n{worker.log()[-5000:]}"
                )
            time.sleep(0.5)
            got = self.value(query)
        return got

    def alert_states(self) -> dict[str, str]:
        return {a["labels"]["alertname"]: a["state"] for a in self.api("alerts")["alerts"]}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> WorkerSettings:
    base = isolated_settings(tmp_path_factory.mktemp("prometheus") / "state", kafka_bootstrap)
    return base.replace(lag_interval=0.5, coverage_interval=1.0)


@pytest.fixture(scope="module")
def worker(settings: WorkerSettings) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(settings).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def prometheus(
    settings: WorkerSettings, worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    server = PrometheusServer(tmp_path_factory.mktemp("prom"), settings.worker_port)
    yield server
    server.stop()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_health_and_readiness(settings: WorkerSettings, worker: WorkerProcess) -> None:
    base = f"http://127.0.0.1:{settings.worker_port}"
    assert get(f"{base}/healthz") == (200, {"status": "alive"})
    assert get(f"{base}/readyz") == (
        200,
        {"status": "ready", "kafka": "ok", "clickhouse": "ok", "clickhouse_writes": "ok"},
    )


def emit_lineage(settings: WorkerSettings) -> None:
    """Lineage whose coverage is known: 4 job runs (1 with parameters), 2 model versions
    (1 reaching the source), 4 predictions (3 of a trained model version)."""
    raw, clean = DatasetRef("crm/raw", "v1"), DatasetRef("crm/clean", "v1")
    other = DatasetRef("web/logs", "v1")
    with LineageClient.from_settings(settings, namespace="prom") as client:
        client.emit(
            SourceExtraction(
                "crm/export", source_system="sf", uri="sf://a", record_count=10, output=raw
            )
        )
        client.emit(
            TransformationRun(
                "etl/clean", inputs=[raw], outputs=[clean], parameters={"nulls": "drop"}
            )
        )
        for job in ("etl/a", "etl/b", "etl/c"):
            client.emit(TransformationRun(job, inputs=[other], outputs=[other]))
        client.emit(TrainingRun("churn", "1.0", [DatasetRef("crm/clean", "v1", "train")]))
        client.emit(TrainingRun("ads", "2.0", [DatasetRef("web/logs", "v1", "train")]))
        for i in range(3):
            client.emit_inference(f"pa{i}", model="churn", model_version="1.0", output="y")
        client.emit_inference("pz", model="never-trained", model_version="9", output="n")


def poison(settings: WorkerSettings) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(settings.topic_events, b"not lineage at all", b"k")
    assert producer.flush(30) == 0


def test_counts_coverage_and_lag_through_prometheus(
    settings: WorkerSettings, worker: WorkerProcess, prometheus: PrometheusServer
) -> None:
    def equals(want: float) -> Callable[[float | None], bool]:
        return lambda got: got == want

    prometheus.wait_for('up{job="lineage-worker"}', equals(1), worker)
    emit_lineage(settings)
    poison(settings)
    events, inferences = settings.topic_events, settings.topic_inferences

    def written(topic: str, kind: str) -> str:
        return f'lineage_events_written_total{{topic="{topic}",kind="{kind}"}}'

    for query, want in (
        (written(events, "SourceExtraction"), 1),
        (written(events, "TransformationRun"), 4),
        (written(events, "TrainingRun"), 2),
        (written(inferences, "Inference"), 4),
        (f'lineage_events_consumed_total{{topic="{events}",kind="TrainingRun"}}', 2),
        (f'lineage_events_failed_total{{topic="{events}",stage="decode"}}', 1),
        (f'lineage_events_dead_lettered_total{{topic="{events}",stage="decode"}}', 1),
        (f'lineage_records_consumed_total{{topic="{events}"}}', 8),
        (f'sum(lineage_batch_events_sum{{topic="{inferences}"}})', 4),
        # Coverage, exactly: 3 of 4 predictions attributed; 1 of 2 models reaches the
        # source; 1 of 4 job runs recorded parameters; no dangling edge.
        ("lineage_coverage_inferences_attributed_ratio", 0.75),
        ("lineage_attribution_unresolved_inferences", 1),
        ("lineage_coverage_models_reaching_source_ratio", 0.5),
        ("lineage_coverage_transformation_runs_with_parameters_ratio", 0.25),
        ("lineage_coverage_edges_to_unknown_nodes", 0),
        # Everything read is committed.
        (f'sum(lineage_consumer_lag_records{{topic="{events}"}})', 0),
        (f'max(lineage_consumer_lag_seconds{{topic="{events}"}})', 0),
    ):
        prometheus.wait_for(query, equals(want), worker)
    assert prometheus.value(f'count(lineage_consumer_lag_records{{topic="{events}"}})') == 2
    assert prometheus.value("sum(lineage_clickhouse_write_seconds_count)") >= 2  # type: ignore[operator]
    assert prometheus.value("sum(lineage_end_to_end_latency_seconds_count)") >= 2  # type: ignore[operator]

    # The store refuses writes: nothing is committed, so lag rises by exactly what was sent.
    store = settings.state_dir / "chdb" / "store"
    subprocess.run(["chattr", "-R", "+i", str(store)], check=True)
    try:
        with LineageClient.from_settings(settings, namespace="prom") as client:
            for i in range(TRAININGS_WHILE_STORE_REFUSES):
                client.emit(TrainingRun("late", f"1.{i}", [DatasetRef("crm/clean", "v1", "train")]))
        lag = f'sum(lineage_consumer_lag_records{{topic="{events}"}})'
        prometheus.wait_for(lag, equals(TRAININGS_WHILE_STORE_REFUSES), worker)
        prometheus.wait_for(
            f'max(lineage_consumer_lag_seconds{{topic="{events}"}})',
            lambda got: got is not None and got >= 2,
            worker,
        )
        prometheus.wait_for(
            'lineage_clickhouse_errors_total{operation="write"}',
            lambda got: got is not None and got >= 2,
            worker,
        )
        assert (prometheus.value("lineage_clickhouse_retries_total") or 0) >= 2
        deadline = time.monotonic() + 30
        while prometheus.alert_states().get("LineageClickHouseWriteErrors") != "pending":
            assert time.monotonic() < deadline, prometheus.alert_states()
            time.sleep(0.5)
    finally:
        subprocess.run(["chattr", "-R", "-i", str(store)], check=True)

    # Writable again: the backlog is stored and the lag returns to zero.
    prometheus.wait_for(lag, equals(0), worker, timeout=120)
    prometheus.wait_for(f'max(lineage_consumer_lag_seconds{{topic="{events}"}})', equals(0), worker)
    stored = 2 + TRAININGS_WHILE_STORE_REFUSES
    prometheus.wait_for(written(events, "TrainingRun"), equals(stored), worker)
    # Over the whole test, the lag seen by Prometheus rose to the backlog and fell back.
    assert prometheus.value(f"max_over_time(({lag})[10m:1s])") == TRAININGS_WHILE_STORE_REFUSES


def test_every_dashboard_query_is_valid_on_prometheus(prometheus: PrometheusServer) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "lineage-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) > 20
    for expr in exprs:
        # Grafana's own variable; the API call raises unless the query is valid.
        prometheus.api("query", query=expr.replace("$__rate_interval", "1m"))


def test_the_rules_loaded_into_prometheus(prometheus: PrometheusServer) -> None:
    groups = prometheus.api("rules")["groups"]
    names = {r["name"] for g in groups for r in g["rules"]}
    assert {"LineageConsumerLagGrowing", "LineageWorkerDown", "lineage:coverage_ratio"} <= names
    assert all(r["health"] != "err" for g in groups for r in g["rules"]), groups
