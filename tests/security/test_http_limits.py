"""The worker's HTTP port against slow, vanishing and too many clients."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from openlineage.client.serde import Serde

from tests.conftest import WorkerProcess, isolated_settings, read_topic
from tests.e2e.test_openlineage import failed_check, post


@pytest.fixture(scope="module")
def strict(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> Iterator[WorkerProcess]:
    """A worker that waits 2 s for a body and takes one ingest request at a time."""
    settings = isolated_settings(tmp_path_factory.mktemp("strict"), kafka_bootstrap)
    proc = WorkerProcess(settings.replace(http_body_seconds=2.0, ingest_max_in_flight=1))
    proc.start()
    yield proc
    proc.stop()


def open_request(port: int, declared: int, sent: bytes) -> socket.socket:
    """A POST to the ingest endpoint that declares ``declared`` bytes and sends ``sent``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def status_of(sock: socket.socket) -> int:
    answer = b""
    while b"\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_a_slow_body_is_cut_with_408_and_a_full_worker_answers_503(strict: WorkerProcess) -> None:
    """Pass: a body that stops arriving is answered 408 after LINEAGE_HTTP_BODY_SECONDS;
    while it holds the only ingest slot, another event is refused 503 with Retry-After;
    once it is cut, the next event is taken (201) and is the one record in the topic."""
    settings = strict.settings
    good = Serde.to_json(failed_check()).encode()
    slow = open_request(settings.worker_port, len(good), good[:10])
    try:
        deadline = time.monotonic() + 30
        while True:  # the slow request takes the slot as soon as the worker reads it
            status, answer = post(settings, good)
            if status == 503:
                break
            assert status == 201 and time.monotonic() < deadline, (status, answer)
        assert "LINEAGE_INGEST_MAX_IN_FLIGHT" in answer["error"]
        started = time.monotonic()
        assert status_of(slow) == 408
        assert time.monotonic() - started < 30
    finally:
        slow.close()
    before = len(read_topic(settings, settings.topic_openlineage))
    assert post(settings, good)[0] == 201
    assert len(read_topic(settings, settings.topic_openlineage)) == before + 1


def test_a_client_that_drops_mid_body_costs_one_log_line(strict: WorkerProcess) -> None:
    """Pass: ten clients that close their connection halfway through a body leave no
    traceback in the worker's log, and the worker goes on taking events."""
    settings = strict.settings
    good = json.dumps(json.loads(Serde.to_json(failed_check()))).encode()
    for _ in range(10):
        sock = open_request(settings.worker_port, len(good), good[: len(good) // 2])
        sock.close()
    deadline = time.monotonic() + 30
    while post(settings, good)[0] != 201:
        assert time.monotonic() < deadline, strict.log()[-3000:]
        time.sleep(0.2)
    assert "Traceback" not in strict.log(), strict.log()[-3000:]
