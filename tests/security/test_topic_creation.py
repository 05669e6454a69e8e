"""Creating the topics waits for a broker that is not up yet, and stops waiting as soon as a
broker has turned the client's credentials or its TLS trust away."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from lineage_collector.security import Secret
from lineage_processors.errors import ProcessorError
from lineage_processors.worker.topics import ensure_topics, topic_names
from tests.security.conftest import SecureKafka

# Far longer than any test may run: a call that returns has stopped for a reason of its own.
ONE_DAY = 86_400.0
# How long the test waits for that call before calling it stuck.
PATIENCE = 120.0


def refusal_of(call: Callable[[], object]) -> ProcessorError:
    """Run ``call`` on a thread; the ProcessorError it raised, failing if it never returns."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(PATIENCE)
    if thread.is_alive():
        pytest.fail(f"ensure_topics still waits after {PATIENCE:.0f}s of a one-day timeout")
    assert len(raised) == 1 and isinstance(raised[0], ProcessorError), raised
    return raised[0]


@pytest.mark.parametrize("case", ["wrong password", "untrusted CA"])
def test_a_definitive_refusal_ends_the_wait_for_kafka(
    secure_kafka: SecureKafka, tmp_path: Path, other_ca: Path, case: str
) -> None:
    """Pass: given a day to reach the secured broker, ensure_topics with a wrong password or
    an untrusted CA returns long before, with the one line that names the setting to fix
    and no password."""
    good = secure_kafka.settings(tmp_path / "state")
    settings = {
        "wrong password": good.replace(kafka_sasl_password=Secret("wrong-" + "x" * 26)),
        "untrusted CA": good.replace(kafka_ssl_ca_file=other_ca),
    }[case]
    error = refusal_of(lambda: ensure_topics(settings, secure_kafka.bootstrap, timeout=ONE_DAY))
    expected = {
        "wrong password": "SASL authentication failed",
        "untrusted CA": "LINEAGE_KAFKA_SSL_CA_FILE",
    }[case]
    assert expected in str(error)
    assert "\n" not in str(error)
    assert secure_kafka.security.password.reveal() not in str(error)
    assert "wrong-" not in str(error)


def test_a_broker_not_up_yet_is_waited_for(secure_kafka: SecureKafka, tmp_path: Path) -> None:
    """Pass: the broker's address refuses connections for the first two seconds (nothing
    listens there yet), then leads to the secured broker; ensure_topics, given 60 s, keeps
    trying through the refusals and creates the four topics."""
    settings = secure_kafka.settings(tmp_path / "state")
    late = LateListener(secure_kafka.bootstrap, after=2.0)
    try:
        created = ensure_topics(settings, late.address, timeout=60)
    finally:
        late.close()
    assert late.accepted > 0  # the topics were reached through the late listener
    assert sorted(created) == sorted(topic_names(settings))
    admin = AdminClient(
        {"bootstrap.servers": secure_kafka.bootstrap, **settings.kafka_security().librdkafka()}
    )
    assert set(topic_names(settings)) <= set(admin.list_topics(timeout=30).topics)


class LateListener:
    """A port that nothing listens on for ``after`` seconds, then forwards every connection
    to ``target``: a broker's address while the broker is still starting."""

    def __init__(self, target: str, after: float) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.accepted = 0
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()  # free, so that connecting is refused until we listen
        self.address = f"127.0.0.1:{self.port}"
        self.closed = threading.Event()
        self.server: socket.socket | None = None
        threading.Timer(after, self._listen).start()

    def _listen(self) -> None:
        if self.closed.is_set():
            return
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.server.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.server is not None
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        if self.server is not None:
            self.server.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
