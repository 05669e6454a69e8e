"""Create the project's topics on Kafka if they are missing."""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from lineage_collector.security import KafkaSecurity, explain_refusal
from lineage_processors.errors import ProcessorError
from lineage_processors.settings import WorkerSettings

if TYPE_CHECKING:  # the package exports it only from a private module
    from confluent_kafka.admin._metadata import ClusterMetadata

# Errors that no amount of waiting mends: the broker answered and turned these settings away.
REFUSALS = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})
# How often a wait for Kafka looks at what the client has heard meanwhile.
ASK_EVERY_SECONDS = 0.5


def topic_names(settings: WorkerSettings) -> list[str]:
    return [
        settings.topic_events,
        settings.topic_inferences,
        settings.topic_openlineage,
        settings.topic_dlq,
    ]


def ensure_topics(settings: WorkerSettings, bootstrap: str, timeout: float = 15.0) -> list[str]:
    """Create any of the topics that do not exist; returns the names created now.

    Done explicitly rather than left to broker auto-creation so the partition count is ours
    and a consumer never subscribes to a topic that does not exist yet.
    """
    security = settings.kafka_security()
    refusals: list[KafkaError] = []
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        **security.librdkafka(),
        "error_cb": refusals.append,
        # librdkafka's own lines stay off the terminal: a refusal is explained below, once.
        "log_level": 0,
    }
    admin = AdminClient(conf)
    try:
        metadata = _metadata(admin, refusals, timeout)
    except KafkaException as exc:
        raise ProcessorError(_why_not(exc, refusals, bootstrap, security, timeout)) from None
    missing = [t for t in topic_names(settings) if t not in metadata.topics]
    if not missing:
        return []
    replicas, config = replication(len(metadata.brokers))
    futures = admin.create_topics(
        [NewTopic(t, settings.topic_partitions, replicas, config=config) for t in missing],
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ProcessorError(f"cannot create topic {name!r}: {exc.args[0].str()}") from None
    return created


def replication(brokers: int) -> tuple[int, dict[str, str]]:
    """The replication factor and topic configuration of a topic created on ``brokers``.

    Three replicas where the cluster has them, and an acks=all write (the SDK's, the DLQ's)
    acknowledged only once two hold it: one broker may die without losing an acknowledged
    event or stopping producers. Set on the topic, not left to the broker's default, which
    is 1 unless someone changed it. A single broker can hold only one replica.
    """
    if brokers < 3:
        return 1, {}
    return 3, {"min.insync.replicas": "2"}


def _metadata(admin: AdminClient, refusals: list[KafkaError], timeout: float) -> ClusterMetadata:
    """The cluster's metadata; the last failure is raised once ``timeout`` is over or as
    soon as the broker has refused us for good. A broker not up yet is waited for; a
    refusal of the credentials or of the TLS handshake comes within a second, and waiting
    the whole ``timeout`` then would only delay the same answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return admin.list_topics(timeout=min(ASK_EVERY_SECONDS, timeout))
        except KafkaException:
            admin.poll(0)  # serves the error callbacks that say why
            if time.monotonic() >= deadline or any(e.code() in REFUSALS for e in refusals):
                raise


def _why_not(
    exc: KafkaException,
    errors: list[KafkaError],
    bootstrap: str,
    security: KafkaSecurity,
    timeout: float,
) -> str:
    """The one line that says why Kafka did not answer and what to do."""
    for err in errors:
        if err.code() in REFUSALS:
            return explain_refusal(err.name(), err.str(), bootstrap, security)
    if not security.tls and _accepts(bootstrap):
        return explain_refusal("_TRANSPORT", str(exc.args[0]), bootstrap, security)
    return (
        f"Kafka at {bootstrap} did not answer within {timeout:.0f}s ({exc.args[0]}); "
        "start it with `lineage up` or check LINEAGE_KAFKA_BOOTSTRAP"
    )


def _accepts(bootstrap: str) -> bool:
    """True if the first bootstrap address takes TCP connections: something listens."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False
