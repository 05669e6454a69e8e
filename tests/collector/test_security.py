"""Secrets kept out of sight, Kafka security as librdkafka wants it, refusals explained."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from lineage_collector.errors import ConfigError
from lineage_collector.security import (
    MASK,
    KafkaSecurity,
    Secret,
    explain_refusal,
    redact,
    redact_in_logs,
)


def test_a_secret_shows_only_when_revealed() -> None:
    secret = Secret("hunter2-password")
    assert secret.reveal() == "hunter2-password"
    assert str(secret) == f"{secret}" == MASK
    assert "hunter2" not in repr(secret) and "hunter2" not in repr([secret])
    assert secret == Secret("hunter2-password") and bool(secret) and not Secret("")
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(secret)


def test_kafka_security_as_librdkafka_configuration(tmp_path: Path) -> None:
    assert KafkaSecurity().librdkafka() == {}
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----")
    sasl = KafkaSecurity("SASL_SSL", "SCRAM-SHA-256", "svc", Secret("pw-123456"), ca)
    assert sasl.librdkafka() == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanisms": "SCRAM-SHA-256",
        "sasl.username": "svc",
        "sasl.password": "pw-123456",
        "ssl.ca.location": str(ca),
    }
    assert sasl.describe() == "SASL_SSL as user 'svc' (SCRAM-SHA-256)"
    assert "pw-123456" not in repr(sasl)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"protocol": "TLS"}, "LINEAGE_KAFKA_SECURITY_PROTOCOL='TLS' is not one of"),
        (
            {"protocol": "SASL_SSL", "mechanism": "MD5", "username": "u", "password": Secret("p")},
            "LINEAGE_KAFKA_SASL_MECHANISM='MD5'",
        ),
        ({"protocol": "SASL_SSL"}, "needs a user: set LINEAGE_KAFKA_SASL_USERNAME"),
        ({"protocol": "SSL", "ca_file": Path("/nonexistent/ca.pem")}, "is not a readable file"),
    ],
)
def test_a_bad_setting_is_named(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KafkaSecurity(**settings)  # type: ignore[arg-type]


def test_secrets_are_masked_in_every_log_record(caplog: pytest.LogCaptureFixture) -> None:
    redact_in_logs([Secret("sekrit-value-1"), "abc"])  # too short to mask: ordinary words
    with caplog.at_level(logging.INFO):
        logging.getLogger("any.library").info("connecting with %s", "sekrit-value-1")
    assert caplog.records[-1].getMessage() == f"connecting with {MASK}"
    assert redact("abc sekrit-value-1") == f"abc {MASK}"


def test_a_refusal_says_what_to_set() -> None:
    sasl = KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "svc", Secret("pw-123456"))
    auth = explain_refusal("_AUTHENTICATION", "failed", "k:9093", sasl)
    assert "Kafka at k:9093 refused SASL_SSL as user 'svc'" in auth
    assert "LINEAGE_KAFKA_SASL_PASSWORD" in auth and "pw-123456" not in auth
    untrusted = explain_refusal("_SSL", "certificate verify failed", "k:9093", sasl)
    assert "LINEAGE_KAFKA_SSL_CA_FILE" in untrusted
    plain = explain_refusal("_TRANSPORT", "closed", "k:9092", KafkaSecurity())
    assert "set LINEAGE_KAFKA_SECURITY_PROTOCOL" in plain
