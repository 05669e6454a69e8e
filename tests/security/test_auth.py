"""Bearer tokens on the worker's HTTP port, as OpenLineage clients and the CLI use them."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.serde import Serde
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from lineage_processors.answers.runner import EndpointRunner
from lineage_processors.errors import QueryError
from lineage_processors.settings import WorkerSettings
from tests.conftest import (
    REPO,
    WorkerProcess,
    child_env,
    isolated_settings,
    read_topic,
    run_cli,
)
from tests.e2e.test_openlineage import failed_check, post

WRITE = "w-" + "7" * 40
READ = "r-" + "3" * 40


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> Iterator[WorkerProcess]:
    """One worker with both tokens for the module's tests (each checks what it sent)."""
    settings = isolated_settings(tmp_path_factory.mktemp("auth"), kafka_bootstrap)
    proc = WorkerProcess(settings.replace(write_token=WRITE, read_token=READ)).start()
    yield proc
    proc.stop()


def ol_client(settings: WorkerSettings, key: str) -> OpenLineageClient:
    # No retries: a refusal must show at once, as the client reports it.
    return OpenLineageClient(
        transport=HttpTransport(
            HttpConfig(
                url=f"http://127.0.0.1:{settings.worker_port}",
                auth=ApiKeyTokenProvider({"apiKey": key}),
                retry={"total": 0},
            )
        )
    )


def get(settings: WorkerSettings, path: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.worker_port}{path}", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_ingest_takes_the_write_token_as_openlineage_clients_send_it(
    guarded: WorkerProcess,
) -> None:
    """Pass: openlineage-python's `api_key` auth is accepted and its event reaches the
    topic; a wrong key, the read token and no token get 401 naming the token, and none
    of them reaches the topic."""
    settings = guarded.settings
    event = failed_check()
    body = Serde.to_json(event).encode()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {READ}"}):
        status, answer = post(settings, body, headers)
        assert status == 401, (headers, answer)
        assert "LINEAGE_WRITE_TOKEN" in answer["error"]
    with pytest.raises(Exception, match="401"):
        ol_client(settings, "wrong").emit(event)
    assert read_topic(settings, settings.topic_openlineage) == []

    ol_client(settings, WRITE).emit(event)
    [forwarded] = read_topic(settings, settings.topic_openlineage)
    sent = json.loads(forwarded.value)
    assert (sent["run"]["runId"], sent["eventType"]) == (str(event.run.runId), "FAIL")


def test_reads_take_the_read_token_probes_and_metrics_stay_open(guarded: WorkerProcess) -> None:
    """Pass: /sql answers with the read token only (the CLI sends it from
    LINEAGE_READ_TOKEN; without it, it says which setting is missing); /healthz, /readyz
    and /metrics answer anyone; no token shows in the worker's log."""
    settings = guarded.settings
    url = guarded.url
    assert EndpointRunner(url, token=settings.read_token).run("SELECT 1").rows == [[1]]
    for token in (None, WRITE, "wrong"):
        runner = EndpointRunner(url, token=WorkerSettings(read_token=token).read_token)
        with pytest.raises(QueryError, match="LINEAGE_READ_TOKEN"):
            runner.run("SELECT 1")
    assert get(settings, "/healthz") == 200
    assert get(settings, "/readyz") == 200
    assert get(settings, "/metrics") == 200

    done = run_cli(settings, "sql", "SELECT 41 + 1")
    assert done.returncode == 0 and "42" in done.stdout, done.stderr
    without = run_cli(settings, "sql", "SELECT 1", extra_env={"LINEAGE_READ_TOKEN": ""})
    assert without.returncode != 0 and "LINEAGE_READ_TOKEN" in without.stderr, without
    assert "Traceback" not in without.stderr
    log = guarded.log()
    assert WRITE not in log and READ not in log


def test_a_worker_bound_beyond_loopback_without_tokens_refuses_to_start(
    settings: WorkerSettings,
) -> None:
    """Pass: `lineage worker` on 0.0.0.0 without tokens exits at once, non-zero, saying
    which tokens to set and how to run open anyway; nothing listens on its port."""
    exposed = settings.replace(worker_host="0.0.0.0")
    done = subprocess.run(
        [sys.executable, "-m", "lineage_processors.cli.main", "worker"],
        env=child_env(exposed),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert "LINEAGE_WRITE_TOKEN" in done.stderr and "LINEAGE_READ_TOKEN" in done.stderr
    assert "LINEAGE_ALLOW_UNAUTHENTICATED" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{settings.worker_port}/healthz", timeout=2)
