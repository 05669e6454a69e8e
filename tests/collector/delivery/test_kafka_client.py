"""librdkafka as the producer drives it: its settings, what its errors mean, its error callback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException

from lineage_collector.delivery.kafka_client import (
    DEFAULT_CONFIG,
    REFUSED,
    ClientErrors,
    describe,
    error_of,
    is_fatal,
    security_of,
)
from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.state import Counters, Switch
from tests.collector.delivery.helpers import MiB

PRODUCER_LOG = "lineage_collector.delivery.producer"
CONF = {**DEFAULT_CONFIG, "bootstrap.servers": "kafka.example:9092"}


def test_the_producer_is_idempotent_and_waits_for_every_replica() -> None:
    assert DEFAULT_CONFIG["enable.idempotence"] is True
    assert DEFAULT_CONFIG["acks"] == "all"
    assert DEFAULT_CONFIG["message.timeout.ms"] == 30_000


def test_errors_are_told_apart() -> None:
    # After a fatal error librdkafka refuses records with _FATAL, itself not flagged fatal.
    assert is_fatal(KafkaError(KafkaError._FATAL))
    assert is_fatal(KafkaError(KafkaError._MSG_TIMED_OUT, "gone", fatal=True))
    assert not is_fatal(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    assert not is_fatal(None)
    assert KafkaError.MSG_SIZE_TOO_LARGE in REFUSED
    assert KafkaError._MSG_TIMED_OUT not in REFUSED  # timed out: spooled and sent again
    err = KafkaError(KafkaError._QUEUE_FULL)
    assert error_of(KafkaException(err)) is err
    assert error_of(KafkaException("no error inside")) is None
    assert describe(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too big"), "t") == (
        "MSG_SIZE_TOO_LARGE: too big (topic t)"
    )


def test_the_security_a_configuration_presents() -> None:
    plain = security_of(CONF)
    assert (plain.protocol, plain.username) == ("PLAINTEXT", "")
    sasl = security_of(
        {
            **CONF,
            "security.protocol": "sasl_ssl",
            "sasl.mechanisms": "PLAIN",
            "sasl.username": "svc",
            "sasl.password": "s3cret-password",
        }
    )
    assert (sasl.protocol, sasl.mechanism, sasl.username) == ("SASL_SSL", "PLAIN", "svc")
    assert "s3cret-password" not in repr(sasl)


def test_a_refusal_is_said_once_and_kept(caplog: pytest.LogCaptureFixture) -> None:
    errors = ClientErrors(CONF, Switch(None, Counters()))
    refusal = KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error")
    with caplog.at_level(logging.ERROR, logger=PRODUCER_LOG):
        errors(refusal)
        errors(refusal)
    assert errors.refused is not None
    assert "Kafka at kafka.example:9092 refused" in errors.refused
    assert "SASL authentication failed" in errors.refused
    assert len(caplog.records) == 1


def test_without_a_spool_an_outage_is_said_once_until_kafka_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = ClientErrors(CONF, Switch(None, Counters()))
    down = KafkaError(KafkaError._ALL_BROKERS_DOWN)
    with caplog.at_level(logging.WARNING, logger=PRODUCER_LOG):
        errors(down)
        errors(down)
        errors.back()
        errors.back()
    assert [r.getMessage() for r in caplog.records] == [
        "Kafka at kafka.example:9092 does not answer; events wait in memory for up to 30 s, "
        "then fail. A spool folder (LINEAGE_SPOOL_DIR) would keep them on disk.",
        "Kafka takes events again.",
    ]
    assert not errors.away


def test_with_a_spool_every_broker_down_starts_spooling(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB)
    switch = Switch(spool, Counters())
    errors = ClientErrors(CONF, switch)
    errors(KafkaError(KafkaError._TRANSPORT))  # one connection lost: librdkafka retries
    assert switch.direct
    errors(KafkaError(KafkaError._ALL_BROKERS_DOWN))
    assert not switch.direct and switch.reserved is not None
    assert not errors.away  # the spool's own warning speaks for the outage
    spool.close()


def test_a_fatal_error_is_kept_for_the_client_to_be_replaced() -> None:
    errors = ClientErrors(CONF, Switch(None, Counters()))
    fatal = KafkaError(KafkaError._FENCED, "fenced", fatal=True)
    errors(fatal)
    assert errors.fatal is fatal
