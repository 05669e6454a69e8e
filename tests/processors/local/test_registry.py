"""The local schema registry, against the real server, spoken to over plain HTTP.

The registry is Apicurio Registry from Maven Central (``deploy/local/registry``); the API
tests make exactly the Confluent Schema Registry calls the SDK and the processors make.
Every test that starts a registry uses its own state folder; the server comes from the real
cache folder, provisioned once for the whole run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage_processors.errors import LocalStackError
from lineage_processors.local.registry import DEFAULT_DEPLOY_DIR, LocalRegistry
from lineage_processors.settings import WorkerSettings
from tests.processors.local_helpers import jvm_pids, path_with_only

MakeRegistry = Callable[..., LocalRegistry]

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# Never through a proxy: the registry listens on the loopback interface.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

RECORD_V1 = {
    "type": "record",
    "name": "DatasetVersionCreated",
    "namespace": "lineage.test",
    "fields": [{"name": "event_id", "type": "string"}, {"name": "rows", "type": "long"}],
}
# V1 plus a field with a default: a backward compatible evolution.
RECORD_V2 = {
    **RECORD_V1,
    "fields": [*RECORD_V1["fields"], {"name": "split", "type": "string", "default": "train"}],
}
# V1 plus a field without a default: readers of V2 cannot read V1 data.
RECORD_BREAKING = {**RECORD_V1, "fields": [*RECORD_V1["fields"], {"name": "x", "type": "int"}]}


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """One HTTP call as a Confluent client makes it: JSON both ways, errors as bodies."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", CONTENT_TYPE)
    if data is not None:
        request.add_header("Content-Type", CONTENT_TYPE)
    try:
        with OPENER.open(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def register(base: str, subject: str, schema: dict[str, Any] | str) -> tuple[int, Any]:
    text = schema if isinstance(schema, str) else json.dumps(schema)
    return call("POST", f"{base}/subjects/{subject}/versions", {"schema": text})


def registry_pids(state_dir: Path) -> list[int]:
    """Every live JVM started with this state folder's registry configuration."""
    needle = f"-Dquarkus.config.locations={state_dir.resolve() / 'registry.properties'}"
    return jvm_pids(lambda args: needle in args)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real cache folder, provisioned once; a failure here fails the run loudly."""
    cache = WorkerSettings().cache_dir
    LocalRegistry(tmp_path_factory.mktemp("unused-state"), cache).provision()
    return cache


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[str]:
    """The Confluent API base URL of one registry shared by this module's API tests."""
    registry = LocalRegistry(tmp_path_factory.mktemp("registry"), cache_dir)
    url = registry.up(progress=lambda _: None)
    yield url
    registry.down()
    assert registry_pids(registry.state_dir) == []


@pytest.fixture
def make_registry(tmp_path: Path, cache_dir: Path) -> Iterator[MakeRegistry]:
    """Build LocalRegistry instances on temp state folders and stop them afterwards."""
    made: list[LocalRegistry] = []

    def make(
        cache_dir: Path = cache_dir, deploy_dir: Path | None = None, start_timeout: float = 120.0
    ) -> LocalRegistry:
        registry = LocalRegistry(
            tmp_path / "state" / "registry", cache_dir, start_timeout, deploy_dir
        )
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.down()
        assert registry_pids(registry.state_dir) == []


# -- the Confluent API ---------------------------------------------------------------------


def test_the_base_url_is_the_confluent_api_on_the_loopback(registry_url: str) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/apis/ccompat/v7", registry_url)
    assert call("GET", f"{registry_url}/subjects") == (200, [])


def test_registering_a_schema_returns_one_id_however_often_and_wherever(
    registry_url: str,
) -> None:
    status, first = register(registry_url, "ids-a-value", RECORD_V1)
    assert status == 200
    assert isinstance(first["id"], int)
    # Producers register at every start; the id must not change.
    assert register(registry_url, "ids-a-value", RECORD_V1) == (200, first)
    # One schema, one id, whatever the subject: the id names the content.
    assert register(registry_url, "ids-b-value", RECORD_V1) == (200, first)
    # The same schema written differently is the same schema.
    reformatted = json.dumps(RECORD_V1, indent=4, sort_keys=True)
    assert register(registry_url, "ids-a-value", reformatted) == (200, first)
    assert call("GET", f"{registry_url}/subjects/ids-a-value/versions") == (200, [1])


def test_a_schema_is_read_back_by_its_id(registry_url: str) -> None:
    _, registered = register(registry_url, "read-value", RECORD_V1)
    status, body = call("GET", f"{registry_url}/schemas/ids/{registered['id']}")
    assert status == 200
    assert json.loads(body["schema"]) == RECORD_V1
    # Confluent omits schemaType for Avro; a registry may also name it.
    assert body.get("schemaType", "AVRO") == "AVRO"


def test_an_unknown_id_is_404_with_confluent_error_code_40403(registry_url: str) -> None:
    status, body = call("GET", f"{registry_url}/schemas/ids/987654321")
    assert status == 404
    assert body["error_code"] == 40403
    assert body["message"]


def test_evolution_must_be_backward_compatible(registry_url: str) -> None:
    _, v1 = register(registry_url, "evolve-value", RECORD_V1)
    status, v2 = register(registry_url, "evolve-value", RECORD_V2)
    assert status == 200 and v2["id"] != v1["id"]
    status, body = register(registry_url, "evolve-value", RECORD_BREAKING)
    assert status == 409
    assert body["error_code"] == 409
    assert call("GET", f"{registry_url}/subjects/evolve-value/versions") == (200, [1, 2])


def test_a_schema_that_is_not_avro_is_rejected(registry_url: str) -> None:
    status, body = register(registry_url, "broken-value", "this is not a schema")
    assert status == 422
    assert body["error_code"] == 42201


# -- lifecycle -------------------------------------------------------------------------------


def test_up_twice_runs_one_registry_and_ids_survive_a_restart(
    make_registry: MakeRegistry,
) -> None:
    registry = make_registry()
    before = registry.status()
    assert (before.running, before.pid, before.url) == (False, None, None)
    assert before.log_file == registry.state_dir / "registry.log"

    messages: list[str] = []
    url = registry.up(progress=messages.append)
    assert registry.url_file.read_text().strip() == url
    first = registry.status()
    assert first.running and first.url == url
    assert registry_pids(registry.state_dir) == [first.pid]
    assert any("is up at" in line for line in messages)
    _, registered = register(url, "restart-value", RECORD_V1)

    # A second `up` reuses the running registry.
    assert registry.up(progress=messages.append) == url
    assert registry.status().pid == first.pid
    assert registry_pids(registry.state_dir) == [first.pid]

    assert registry.down() is True
    after = registry.status()
    assert (after.running, after.pid, after.url) == (False, None, None)
    assert registry_pids(registry.state_dir) == []
    assert not registry.url_file.exists()
    assert registry.down() is False

    # Same port, same schemas: records in Kafka still name valid ids.
    assert registry.up(progress=lambda _: None) == url
    status, body = call("GET", f"{url}/schemas/ids/{registered['id']}")
    assert status == 200 and json.loads(body["schema"]) == RECORD_V1
    assert register(url, "restart-value", RECORD_V1) == (200, registered)


def test_a_taken_port_is_reported(make_registry: MakeRegistry) -> None:
    registry = make_registry()
    registry.state_dir.mkdir(parents=True)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        (registry.state_dir / "ports.json").write_text(json.dumps({"port": port}))
        with pytest.raises(LocalStackError) as caught:
            registry.up(progress=lambda _: None)
    message = str(caught.value)
    assert f"port {port} is in use" in message
    assert str(registry.state_dir / "ports.json") in message
    assert registry_pids(registry.state_dir) == []


def test_a_registry_not_ready_in_time_is_stopped_and_its_log_named(
    make_registry: MakeRegistry,
) -> None:
    registry = make_registry(start_timeout=0.5)
    with pytest.raises(LocalStackError) as caught:
        registry.up(progress=lambda _: None)
    message = str(caught.value)
    assert "was not ready on 127.0.0.1:" in message
    assert "within 0.5 s" in message
    assert "It has been stopped again" in message
    assert str(registry.log_file) in message
    assert registry_pids(registry.state_dir) == []
    assert not registry.url_file.exists()


def test_a_registry_that_exits_at_start_shows_the_cause(
    make_registry: MakeRegistry, tmp_path: Path
) -> None:
    deploy = tmp_path / "deploy"
    shutil.copytree(DEFAULT_DEPLOY_DIR, deploy)
    # The last value of a key wins: a storage kind the server does not know is fatal.
    with (deploy / "registry.properties.in").open("a") as template:
        template.write("apicurio.storage.kind=no-such-storage\n")
    registry = make_registry(deploy_dir=deploy)
    with pytest.raises(LocalStackError) as caught:
        registry.up(progress=lambda _: None)
    message = str(caught.value)
    assert "exited" in message
    assert "no-such-storage" in message
    assert str(registry.log_file) in message
    assert registry_pids(registry.state_dir) == []


def test_missing_java_is_named_with_how_to_install_it(
    make_registry: MakeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path_with_only(tmp_path / "empty-path", monkeypatch)
    registry = make_registry()
    with pytest.raises(LocalStackError) as caught:
        registry.up(progress=lambda _: None)
    assert "java was not found on PATH" in str(caught.value)
    assert "apt-get install openjdk-17-jre-headless" in str(caught.value)
    assert not registry.state_dir.exists()


def test_missing_maven_is_named_when_the_server_must_be_fetched(
    make_registry: MakeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path_with_only(tmp_path / "only-java", monkeypatch, "java")
    # An interrupted download: files but no completion marker. It must not count as done.
    pom = (DEFAULT_DEPLOY_DIR / "pom.xml").read_text()
    version = re.search(r"<apicurio.version>([^<]+)</apicurio.version>", pom)
    assert version is not None
    cache = tmp_path / "cache"
    (cache / f"apicurio-registry-{version[1]}" / "app" / "lib").mkdir(parents=True)
    registry = make_registry(cache_dir=cache)
    for step in (registry.provision, registry.up):
        with pytest.raises(LocalStackError) as caught:
            step(lambda _: None)
        assert "mvn (Apache Maven) was not found on PATH" in str(caught.value)
        assert "apt-get install maven" in str(caught.value)


def test_provisioning_happens_once_and_then_needs_no_maven(
    make_registry: MakeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = make_registry()
    messages: list[str] = []
    app = registry.provision(progress=messages.append)
    assert list(app.glob("apicurio-registry-app-*-runner.jar"))
    assert (app.parent / "pom.xml").read_text() == (DEFAULT_DEPLOY_DIR / "pom.xml").read_text()
    path_with_only(tmp_path / "empty-path", monkeypatch)
    assert registry.provision(progress=messages.append) == app
    assert messages == []


def test_a_stale_pid_file_is_not_trusted(make_registry: MakeRegistry) -> None:
    registry = make_registry()
    registry.state_dir.mkdir(parents=True)
    # A live process that is not the registry (this test run), as after a reboot.
    (registry.state_dir / "registry.pid").write_text(f"{os.getpid()}\n")
    status = registry.status()
    assert (status.running, status.pid) == (False, None)
    assert registry.down() is False
    assert not (registry.state_dir / "registry.pid").exists()


def test_a_missing_deploy_folder_is_reported(tmp_path: Path, cache_dir: Path) -> None:
    with pytest.raises(LocalStackError) as caught:
        LocalRegistry(tmp_path / "registry", cache_dir, deploy_dir=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(caught.value)
    assert "registry-start.sh" in str(caught.value)
