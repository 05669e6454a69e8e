"""The SDK entry point: :class:`LineageClient` turns typed events into Avro records on Kafka."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from collector.catalog import SchemaCatalog, load_catalog
from collector.config import Settings
from collector.errors import InvalidEventError, SchemaError
from collector.events import DatasetRef, Event, TrainingRun
from collector.producer import EventProducer
from collector.wire import encode


class LineageClient:
    """Emit lineage events to Kafka.

    >>> with LineageClient.from_settings(Settings.from_env(), namespace="ml-platform") as lc:
    ...     lc.emit_training_run("intent-classifier", "3.4.2",
    ...                          [DatasetRef("warehouse/customers", "v12")])
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        topic_events: str = "lineage.events",
        producer_name: str = "lineage-sdk",
        namespace: str = "default",
        producer_config: dict[str, Any] | None = None,
        catalog: SchemaCatalog | None = None,
    ) -> None:
        self._catalog = catalog or load_catalog()
        self._producer = EventProducer(bootstrap, producer_config)
        self.topic_events = topic_events
        self.producer_name = producer_name
        self.namespace = namespace

    @classmethod
    def from_settings(cls, settings: Settings, namespace: str = "default") -> LineageClient:
        """A client for the Kafka and topics named in ``settings``."""
        return cls(
            settings.resolve_bootstrap(),
            topic_events=settings.topic_events,
            producer_name=settings.producer_name,
            namespace=namespace,
        )

    def emit(
        self, event: Event, *, event_id: str | None = None, event_time: datetime | None = None
    ) -> str:
        """Validate, encode and enqueue ``event``; returns its ``event_id``. Never blocks on I/O."""
        event.validate()
        eid = event_id or str(uuid.uuid4())
        try:
            uuid.UUID(eid)
        except ValueError:
            raise InvalidEventError(f"event_id {eid!r} is not a UUID") from None
        when = event_time or datetime.now(UTC)
        if when.tzinfo is None:
            raise InvalidEventError("event_time must be timezone-aware (e.g. datetime.now(UTC))")
        record = {
            "event_id": eid,
            "event_time": when,
            "producer": self.producer_name,
            "namespace": self.namespace,
            **event.fields(),
        }
        try:
            value = encode(self._catalog.by_name(event.SCHEMA), record)
        except SchemaError as exc:
            raise InvalidEventError(str(exc)) from None
        self._producer.send(self.topic_events, event.key().encode(), value)
        return eid

    def emit_training_run(
        self, model: str, version: str, datasets: list[DatasetRef], **details: Any
    ) -> str:
        """Record that ``model@version`` was trained on ``datasets``."""
        return self.emit(TrainingRun(model, version, datasets, **details))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until Kafka has acknowledged every emitted event."""
        self._producer.flush(timeout)

    def close(self) -> None:
        """Flush and release the producer."""
        self.flush()

    def __enter__(self) -> LineageClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
