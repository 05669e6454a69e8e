"""Shared fixtures: one real Kafka broker per test session, and per-test topics and stores.

Kafka is Apache Kafka itself, provisioned from Maven Central by ``deploy/local`` (or the
cluster in ``LINEAGE_KAFKA_BOOTSTRAP``). A missing Java or Maven fails the run with the
message saying how to get them; nothing is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from lineage_collector.log_hygiene import forget_sdk_repeats
from lineage_processors.answers.runner import EndpointRunner, Table
from lineage_processors.errors import ProcessorError
from lineage_processors.local.clickhouse import LocalClickHouse
from lineage_processors.local.kafka import LocalKafka
from lineage_processors.local.ports import free_ports
from lineage_processors.local.worker import answers
from lineage_processors.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _sdk_repeats_forgotten() -> None:
    """The SDK writes each kind of complaint once a minute, process-wide: a test hears what
    it provokes, whatever the one before it provoked."""
    forget_sdk_repeats()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker shared by the whole session."""
    external = os.environ.get("LINEAGE_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    from lineage_processors.local.kafka import LocalKafka

    kafka = LocalKafka(tmp_path_factory.mktemp("kafka"), WorkerSettings().cache_dir)
    try:
        bootstrap = kafka.up(progress=lambda line: print(line, file=sys.stderr))
    except ProcessorError as exc:
        pytest.fail(f"cannot start the test Kafka broker: {exc}", pytrace=False)
    yield bootstrap
    kafka.down()


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClickHouse]:
    """A ClickHouse server for the session (chDB's engine serving HTTP in a process of its
    own; see lineage_processors.local.clickhouse). Tests take a database of their own on it."""
    server = LocalClickHouse(tmp_path_factory.mktemp("clickhouse"))
    try:
        server.up()
    except ProcessorError as exc:
        pytest.fail(f"cannot start the test ClickHouse server: {exc}", pytrace=False)
    yield server
    server.down()


@pytest.fixture(scope="session")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real Confluent-compatible schema registry (Apicurio) for the session."""
    from lineage_processors.local.registry import LocalRegistry

    registry = LocalRegistry(tmp_path_factory.mktemp("registry"), WorkerSettings().cache_dir)
    try:
        url = registry.up(progress=lambda line: print(line, file=sys.stderr))
    except ProcessorError as exc:
        pytest.fail(f"cannot start the test schema registry: {exc}", pytrace=False)
    yield url
    registry.down()


def broker_up(kafka: LocalKafka) -> str:
    """Start (or start again) a test's own broker; fail the test saying why it would not."""
    try:
        return kafka.up(progress=lambda line: None)
    except ProcessorError as exc:
        pytest.fail(f"a test's own Kafka broker did not start: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A broker of this test module's own, to stop, kill and pause without touching the
    session's; it keeps its ports across restarts."""
    kafka = LocalKafka(tmp_path_factory.mktemp("own-kafka"), WorkerSettings().cache_dir)
    broker_up(kafka)
    yield kafka
    kafka.down()


def free_port() -> int:
    """A port free on the loopback now."""
    return free_ports(1)[0]


def isolated_settings(state_dir: Path, kafka_bootstrap: str) -> WorkerSettings:
    """WorkerSettings with topics, consumer group, state folder and ports of their own."""
    tag = uuid.uuid4().hex[:8]
    return WorkerSettings(
        state_dir=state_dir,
        kafka_bootstrap=kafka_bootstrap,
        topic_events=f"t{tag}.events",
        topic_inferences=f"t{tag}.inferences",
        topic_openlineage=f"t{tag}.openlineage",
        topic_dlq=f"t{tag}.dlq",
        topic_partitions=2,
        consumer_group=f"g{tag}",
        worker_port=free_port(),
        batch_seconds=0.2,
        log_level="INFO",
    )


@pytest.fixture
def settings(tmp_path: Path, kafka_bootstrap: str) -> WorkerSettings:
    """WorkerSettings with this test's own topics, consumer group, state folder and ports."""
    return isolated_settings(tmp_path / "state", kafka_bootstrap)


def child_env(settings: WorkerSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    env.update(settings.to_env())
    return env


def run_cli(
    settings: WorkerSettings,
    *args: str,
    timeout: float = 120,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``lineage ARGS`` as a user would, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "lineage_processors.cli.main", *args],
        env={**child_env(settings), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


@dataclass(frozen=True)
class Read:
    """One record read back from a topic."""

    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: dict[str, bytes]


def read_topic(settings: WorkerSettings, topic: str) -> list[Read]:
    """Every record currently in ``topic``, partition by partition, in offset order."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": "scan",
            "enable.auto.commit": False,
        }
    )
    out = []
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            while True:
                msg = consumer.poll(60)  # a fetch takes milliseconds, or a loaded machine
                assert msg is not None and msg.error() is None, msg and msg.error()
                out.append(
                    Read(
                        p,
                        msg.offset(),
                        msg.key() or b"",
                        msg.value() or b"",
                        dict(msg.headers() or []),
                    )
                )
                if msg.offset() >= high - 1:
                    break
    finally:
        consumer.close()
    return out


# A worker's start is CPU work (imports, migrations on the embedded store): 10-20 s here,
# minutes on a two-core machine at a load average of 15. Waiting costs nothing when it is
# quick.
WORKER_START_S = 300.0


class WorkerProcess:
    """A real ``lineage worker`` in a child process, with its log kept for failures."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.log_path = settings.state_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.worker_port}/sql"

    def start(self, timeout: float = WORKER_START_S) -> WorkerProcess:
        return self.launch().ready(timeout)

    def launch(self) -> WorkerProcess:
        """Start the process without waiting for it (see :meth:`ready`)."""
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lineage_processors.cli.main", "worker"],
                env=child_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        return self

    def ready(self, timeout: float = WORKER_START_S) -> WorkerProcess:
        """Wait until the launched worker answers queries."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log()}")
            if answers(self.url, token=self.settings.read_token):
                return self
            time.sleep(0.2)
        raise AssertionError(f"worker did not answer in {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def query(self, sql: str, parameters: dict[str, object] | None = None) -> Table:
        return EndpointRunner(self.url, token=self.settings.read_token).run(sql, parameters)

    def wait_for(
        self,
        sql: str,
        expected_rows: int,
        timeout: float = 60,
        params: dict[str, object] | None = None,
    ) -> Table:
        """Poll ``sql`` until it returns ``expected_rows`` rows (or fail with the worker log)."""
        deadline = time.monotonic() + timeout
        table = self.query(sql, params)
        while len(table.rows) < expected_rows and time.monotonic() < deadline:
            time.sleep(0.2)
            table = self.query(sql, params)
        assert len(table.rows) == expected_rows, f"got {table.rows}\nworker log:\n{self.log()}"
        return table


@pytest.fixture
def worker(settings: WorkerSettings) -> Iterator[WorkerProcess]:
    """A started worker for this test's settings, stopped afterwards."""
    proc = WorkerProcess(settings).start()
    yield proc
    proc.stop()
