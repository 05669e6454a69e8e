"""SASL/SCRAM over TLS for real: the right user gets in; a wrong password, a plaintext
client or an untrusted CA is turned away with one clear line, and no secret is shown."""

from __future__ import annotations

import logging
import pickle
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from lineage_collector import DatasetRef, LineageClient
from lineage_collector.errors import ConfigError
from lineage_collector.security import KafkaSecurity, Secret, redact_in_logs
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, run_cli
from tests.security.conftest import SecureKafka

WRONG = "wrong-password-" + "x" * 17


def secured_values(settings: WorkerSettings, topic: str, expected: int) -> list[bytes]:
    """Every value of ``topic``, read as the broker's user over TLS."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.resolve_bootstrap(),
            **settings.kafka_security().librdkafka(),
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(60):
            for message in consumer.consume(1000, 0.5):
                assert message.error() is None, message.error()
                values.append(message.value() or b"")
            if len(values) >= expected:
                break
    finally:
        consumer.close()
    return values


def emit(settings: WorkerSettings, count: int) -> int:
    with LineageClient.from_settings(settings, namespace="sec") as client:
        for i in range(count):
            client.emit_training_run(f"m{i}", "1.0", [DatasetRef("d", f"v{i}", "train")])
        return client.producer.flush(30)


def test_the_sdk_delivers_over_sasl_ssl_with_its_user(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    """Pass: all 20 events the SDK emitted are read back from the secured broker."""
    settings = secure_kafka.settings(tmp_path / "state")
    assert emit(settings, 20) == 0
    assert len(secured_values(settings, settings.topic_events, 20)) == 20


def test_the_local_secured_broker_is_found_by_settings_alone(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    """Pass: settings that name only the state folder of a local broker started secured
    (as `LINEAGE_KAFKA_LOCAL_SECURE=1 lineage up` does) reach it with the SCRAM user and CA
    its scripts generated: 5 events delivered. Its keys are readable by the owner only."""
    local = WorkerSettings(state_dir=secure_kafka.state_dir.parent).replace(
        topic_events=f"t{uuid.uuid4().hex[:8]}.events", spool_dir=tmp_path / "spool"
    )
    assert local.kafka_security() == secure_kafka.security
    assert secure_kafka.security.protocol == "SASL_SSL"
    assert secure_kafka.security.username == "lineage"
    assert emit(local, 5) == 0
    assert len(secured_values(local, local.topic_events, 5)) == 5
    assert WorkerSettings(state_dir=tmp_path).kafka_security() == KafkaSecurity()  # none there
    tls = secure_kafka.state_dir / "tls"
    for path in (
        tls / "ca.key",
        tls / "broker.p12",
        tls / "admin.password",
        tls / "lineage.password",
        secure_kafka.state_dir / "client-security.json",
        secure_kafka.state_dir / "server.properties",
    ):
        assert path.stat().st_mode & 0o077 == 0, path


@pytest.mark.parametrize("case", ["wrong password", "plaintext", "untrusted CA"])
def test_kafka_turns_clients_away_with_one_clear_line(
    secure_kafka: SecureKafka, tmp_path: Path, other_ca: Path, case: str
) -> None:
    """Pass: `lineage up --no-worker` against the secured broker exits 1 with one line
    naming the cause and the setting to fix, no traceback and no password."""
    good = secure_kafka.settings(tmp_path / "state")
    settings = {
        "wrong password": good.replace(kafka_sasl_password=Secret(WRONG)),
        "plaintext": good.replace(kafka_security_protocol=""),
        "untrusted CA": good.replace(kafka_ssl_ca_file=other_ca),
    }[case]
    done = run_cli(settings, "up", "--no-worker", timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, done.stderr
    expected = {
        "wrong password": "SASL authentication failed",
        "plaintext": "set LINEAGE_KAFKA_SECURITY_PROTOCOL",
        "untrusted CA": "LINEAGE_KAFKA_SSL_CA_FILE",
    }[case]
    assert expected in errors[0]
    assert "Traceback" not in out
    for secret in (WRONG, secure_kafka.security.password.reveal()):
        assert secret not in out


def test_the_worker_refuses_to_start_with_a_wrong_password(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    """Pass: `lineage worker` with a wrong password exits 1 with one line and, even at
    DEBUG, no trace of the password in what it printed."""
    settings = secure_kafka.settings(
        tmp_path / "state", kafka_sasl_password=Secret(WRONG), log_level="DEBUG"
    )
    done = run_cli(settings, "worker", timeout=90)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "SASL authentication failed" in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in out
    assert WRONG not in out


def test_the_sdk_says_once_why_kafka_refuses_it_and_keeps_the_events(
    secure_kafka: SecureKafka, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Pass: an SDK with a wrong password logs the refusal by name, spools the events
    instead of losing them, and no log line (librdkafka's debug output included) holds
    the password."""
    settings = secure_kafka.settings(tmp_path / "state", kafka_sasl_password=Secret(WRONG))
    redact_in_logs(settings.secret_values())
    conf = {**settings.kafka_security().librdkafka(), "debug": "security,broker,conf"}
    with caplog.at_level(logging.DEBUG):
        client = LineageClient(
            settings.kafka_bootstrap,
            topic_events=settings.topic_events,
            producer_config=conf,
            spool_dir=tmp_path / "spool",
        )
        client.emit_training_run("m", "1.0", [DatasetRef("d", "v1", "train")])
        # The refusal comes within a second or two; then a short flush proves the event
        # is kept as well as a long one would (it cannot be delivered either way).
        deadline = time.monotonic() + 15
        while client.producer.refused is None and time.monotonic() < deadline:
            time.sleep(0.1)
        waiting = client.producer.flush(1)
        client.close()
    assert waiting == 1  # kept in the spool, not lost
    assert client.producer.failed == 0
    assert client.producer.refused is not None
    assert "SASL authentication failed" in client.producer.refused
    assert "SASL authentication failed" in caplog.text
    assert caplog.text.count("SASL authentication failed") >= 1
    assert WRONG not in caplog.text
    assert "sasl" in caplog.text.lower()  # librdkafka's debug lines did come through


def test_secrets_never_show_in_repr_str_or_errors(tmp_path: Path) -> None:
    """Pass: no setting, security object or configuration error shows a secret."""
    password, key = "kafka-pw-" + "p" * 20, "subject-key-" + "k" * 30
    ch = "ch-pw-" + "c" * 20
    settings = WorkerSettings.from_env(
        {
            "LINEAGE_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "LINEAGE_KAFKA_SASL_USERNAME": "lineage",
            "LINEAGE_KAFKA_SASL_PASSWORD": password,
            "LINEAGE_SUBJECT_KEY": key,
            "LINEAGE_CLICKHOUSE_URL": f"https://admin:{ch}@ch.example:8443/lineage",
            "LINEAGE_CLICKHOUSE_PASSWORD": ch,
        }
    )
    security = settings.kafka_security()
    shown = " ".join(
        [
            repr(settings),
            str(settings),
            repr(security),
            str(security),
            security.describe(),
            str(settings.kafka_sasl_password),
            f"{settings.subject_key}",
            repr(settings.clickhouse_password),
        ]
    )
    for secret in (password, key, ch):
        assert secret not in shown
    assert security.librdkafka()["sasl.password"] == password  # handed to the client only
    assert settings.to_env()["LINEAGE_KAFKA_SASL_PASSWORD"] == password  # and to children
    with pytest.raises(TypeError):
        pickle.dumps(settings.kafka_sasl_password)
    with pytest.raises(ConfigError) as missing_user:
        WorkerSettings.from_env(
            {"LINEAGE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LINEAGE_KAFKA_SASL_PASSWORD": password}
        ).kafka_security()
    assert "LINEAGE_KAFKA_SASL_USERNAME" in str(missing_user.value)
    assert password not in str(missing_user.value)
    with pytest.raises(ConfigError) as bad_protocol:
        WorkerSettings.from_env({"LINEAGE_KAFKA_SECURITY_PROTOCOL": password})
    assert "LINEAGE_KAFKA_SECURITY_PROTOCOL" in str(bad_protocol.value)


def test_log_records_mask_configured_secrets(caplog: pytest.LogCaptureFixture) -> None:
    """Pass: a secret logged by any logger, in the message, its arguments or an exception,
    shows as ***."""
    secret = "log-secret-" + "s" * 20
    redact_in_logs([Secret(secret)])
    log = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        log.info("connecting with %s", secret)
        log.warning(f"password={secret}")
        try:
            raise RuntimeError(f"refused {secret}")
        except RuntimeError:
            log.exception("failed")
    assert secret not in caplog.text
    assert caplog.text.count("***") >= 3


def test_masked_records_still_format_with_the_workers_formatter() -> None:
    """Pass: a masked record, with arguments and a '%' in its text, comes out whole through
    the formatter the worker's logging uses (faust's), not as a logging error."""
    from mode.utils.logging import ExtensionFormatter

    redact_in_logs([Secret("fmt-secret-" + "f" * 20)])
    record = logging.getLogger("aiokafka").makeRecord(
        "aiokafka",
        logging.ERROR,
        __file__,
        1,
        "Heartbeat failed: %r at 100%%",
        (KeyError("x"),),
        None,
    )
    assert ExtensionFormatter(fmt="%(message)s").format(record) == (
        "Heartbeat failed: KeyError('x') at 100%"
    )


def test_the_worker_reads_and_dead_letters_over_sasl_ssl(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    """Pass: a worker with the right user stores the 10 events the SDK sent over SASL_SSL,
    and its producer dead-letters a poison record there too."""
    settings = secure_kafka.settings(tmp_path / "state")
    assert emit(settings, 10) == 0
    producer = Producer(
        {"bootstrap.servers": secure_kafka.bootstrap, **secure_kafka.security.librdkafka()}
    )
    producer.produce(settings.topic_events, b"\xc3\x01" + b"\x00" * 12, b"poison")
    assert producer.flush(30) == 0
    worker = WorkerProcess(settings).start()
    try:
        worker.wait_for("SELECT event_id FROM events_raw", 10)
        assert len(secured_values(settings, settings.topic_dlq, 1)) == 1
    finally:
        worker.stop()
    assert secure_kafka.security.password.reveal() not in worker.log()
