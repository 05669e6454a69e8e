"""The local Kafka broker of ``lineage up | down | status``, against a real broker.

Every test that starts a broker uses its own state folder; the jars come from the real cache
folder, provisioned once for the whole run.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from lineage_processors.errors import LocalStackError
from lineage_processors.local.kafka import DEFAULT_DEPLOY_DIR, LocalKafka
from lineage_processors.settings import WorkerSettings
from tests.processors.local_helpers import jvm_pids, path_with_only

MakeKafka = Callable[..., LocalKafka]


def broker_pids(state_dir: Path) -> list[int]:
    """Every live ``kafka.Kafka`` JVM whose command line names this state folder."""
    needle = str(state_dir.resolve())
    return jvm_pids(lambda args: "kafka.Kafka" in args and any(needle in arg for arg in args))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real cache folder, provisioned once; a failure here fails the run loudly."""
    cache = WorkerSettings().cache_dir
    LocalKafka(tmp_path_factory.mktemp("unused-state"), cache).provision()
    return cache


@pytest.fixture
def make_kafka(tmp_path: Path, cache_dir: Path) -> Iterator[MakeKafka]:
    """Build LocalKafka instances on temp state folders and stop their brokers afterwards."""
    made: list[LocalKafka] = []

    def make(
        cache_dir: Path = cache_dir, deploy_dir: Path | None = None, start_timeout: float = 90.0
    ) -> LocalKafka:
        kafka = LocalKafka(tmp_path / "state" / "kafka", cache_dir, deploy_dir, start_timeout)
        made.append(kafka)
        return kafka

    yield make
    for kafka in made:
        kafka.down()
        assert broker_pids(kafka.state_dir) == []


@pytest.mark.kafka
def test_up_twice_runs_one_broker_and_down_leaves_none(make_kafka: MakeKafka) -> None:
    kafka = make_kafka()
    before = kafka.status()
    assert (before.running, before.pid, before.bootstrap) == (False, None, None)
    assert before.log_file == kafka.state_dir / "kafka.log"

    messages: list[str] = []
    bootstrap = kafka.up(progress=messages.append)
    assert re.fullmatch(r"127\.0\.0\.1:\d+", bootstrap)
    assert (kafka.state_dir / "bootstrap").read_text().strip() == bootstrap
    first = kafka.status()
    assert first.running and first.bootstrap == bootstrap
    assert broker_pids(kafka.state_dir) == [first.pid]

    assert kafka.up(progress=messages.append) == bootstrap
    assert kafka.status().pid == first.pid
    assert broker_pids(kafka.state_dir) == [first.pid]
    assert any("already running" in message for message in messages)

    # It is a real broker: it answers a metadata request with itself as the only node.
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    assert [f"{b.host}:{b.port}" for b in metadata.brokers.values()] == [bootstrap]

    assert kafka.down() is True
    assert broker_pids(kafka.state_dir) == []
    after = kafka.status()
    assert (after.running, after.pid, after.bootstrap) == (False, None, None)
    assert not (kafka.state_dir / "bootstrap").exists()
    assert kafka.down() is False


@pytest.mark.kafka
def test_restart_keeps_the_port_and_a_taken_port_is_reported(make_kafka: MakeKafka) -> None:
    kafka = make_kafka()
    bootstrap = kafka.up(progress=lambda _: None)
    kafka.down()
    assert kafka.up(progress=lambda _: None) == bootstrap
    kafka.down()

    port = int(bootstrap.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(LocalStackError) as caught:
            kafka.up(progress=lambda _: None)
    message = str(caught.value)
    assert f"port {port} is in use" in message
    assert "lineage down" in message
    assert str(kafka.state_dir / "ports.json") in message
    assert broker_pids(kafka.state_dir) == []
    assert not kafka.status().running


@pytest.mark.kafka
def test_a_broker_that_does_not_answer_in_time_names_its_log(make_kafka: MakeKafka) -> None:
    kafka = make_kafka(start_timeout=0.5)
    with pytest.raises(LocalStackError) as caught:
        kafka.up(progress=lambda _: None)
    message = str(caught.value)
    assert "did not answer on 127.0.0.1:" in message
    assert "within 0.5 s" in message
    assert "It has been stopped again" in message
    assert str(kafka.state_dir / "kafka.log") in message
    # The half-started broker is not left behind.
    assert broker_pids(kafka.state_dir) == []
    assert not (kafka.state_dir / "bootstrap").exists()


@pytest.mark.kafka
def test_a_broker_that_exits_at_start_shows_the_cause(
    make_kafka: MakeKafka, tmp_path: Path
) -> None:
    deploy = tmp_path / "deploy"
    shutil.copytree(DEFAULT_DEPLOY_DIR, deploy)
    # Valid for formatting, fatal when the controller starts: the broker dies early.
    with (deploy / "server.properties.in").open("a") as template:
        template.write("authorizer.class.name=org.example.NoSuchAuthorizer\n")
    kafka = make_kafka(deploy_dir=deploy)
    with pytest.raises(LocalStackError) as caught:
        kafka.up(progress=lambda _: None)
    message = str(caught.value)
    assert "exited while starting" in message
    assert str(kafka.state_dir / "kafka.log") in message
    assert "ClassNotFoundException: org.example.NoSuchAuthorizer" in message
    assert broker_pids(kafka.state_dir) == []


def test_missing_java_is_named_with_how_to_install_it(
    make_kafka: MakeKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path_with_only(tmp_path / "empty-path", monkeypatch)
    kafka = make_kafka()
    with pytest.raises(LocalStackError) as caught:
        kafka.up(progress=lambda _: None)
    assert "java was not found on PATH" in str(caught.value)
    assert "apt-get install openjdk-17-jre-headless" in str(caught.value)
    assert not kafka.state_dir.exists()


def test_missing_maven_is_named_when_the_jars_must_be_fetched(
    make_kafka: MakeKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path_with_only(tmp_path / "only-java", monkeypatch, "java")
    # An interrupted download: jars but no completion marker. It must not count as done.
    cache = tmp_path / "cache"
    (cache / "kafka-4.4.0" / "libs").mkdir(parents=True)
    kafka = make_kafka(cache_dir=cache)
    for call in (kafka.provision, kafka.up):
        with pytest.raises(LocalStackError) as caught:
            call(lambda _: None)
        assert "mvn (Apache Maven) was not found on PATH" in str(caught.value)
        assert "apt-get install maven" in str(caught.value)


def test_provisioning_happens_once_and_then_needs_no_maven(
    make_kafka: MakeKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = make_kafka()
    messages: list[str] = []
    libs = kafka.provision(progress=messages.append)
    assert any(jar.name.startswith("kafka_2.13-") for jar in libs.glob("*.jar"))
    assert (libs.parent / "pom.xml").read_text() == (DEFAULT_DEPLOY_DIR / "pom.xml").read_text()
    # Once provisioned, the cache answers without Maven or any other tool on PATH.
    path_with_only(tmp_path / "empty-path", monkeypatch)
    assert kafka.provision(progress=messages.append) == libs
    assert messages == []


def test_a_stale_pid_file_is_not_trusted(make_kafka: MakeKafka) -> None:
    kafka = make_kafka()
    kafka.state_dir.mkdir(parents=True)
    # A live process that is not the broker (this test run), as after a reboot and pid reuse.
    (kafka.state_dir / "kafka.pid").write_text(f"{os.getpid()}\n")
    status = kafka.status()
    assert (status.running, status.pid) == (False, None)
    assert kafka.down() is False
    assert not (kafka.state_dir / "kafka.pid").exists()


def test_a_missing_deploy_folder_is_reported(tmp_path: Path, cache_dir: Path) -> None:
    with pytest.raises(LocalStackError) as caught:
        LocalKafka(tmp_path / "kafka", cache_dir, deploy_dir=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(caught.value)
    assert "kafka-start.sh" in str(caught.value)
