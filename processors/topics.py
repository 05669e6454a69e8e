"""Create the project's topics on Kafka if they are missing."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from collector.config import Settings
from processors.errors import ProcessorError


def topic_names(settings: Settings) -> list[str]:
    return [
        settings.topic_events,
        settings.topic_inferences,
        settings.topic_openlineage,
        settings.topic_dlq,
    ]


def ensure_topics(settings: Settings, bootstrap: str, timeout: float = 15.0) -> list[str]:
    """Create any of the topics that do not exist; returns the names created now.

    Done explicitly rather than left to broker auto-creation so the partition count is ours
    and a consumer never subscribes to a topic that does not exist yet.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ProcessorError(
            f"Kafka at {bootstrap} did not answer within {timeout:.0f}s ({exc.args[0]}); "
            "start it with `lineage up` or check LINEAGE_KAFKA_BOOTSTRAP"
        ) from None
    missing = [t for t in topic_names(settings) if t not in metadata.topics]
    if not missing:
        return []
    # Three replicas where the cluster has them; a single local broker can hold only one.
    replicas = 1 if len(metadata.brokers) < 3 else 3
    futures = admin.create_topics(
        [NewTopic(t, settings.topic_partitions, replicas) for t in missing],
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
