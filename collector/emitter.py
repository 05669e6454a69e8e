"""What the helpers built on the client need of it, as protocols the client fulfils.

A pipeline step (:mod:`lineage_collector.steps`) emits events through an :class:`Emitter`; the
inference logger (:mod:`lineage_collector.inference_log`) encodes batches itself and hands them
to a :class:`BatchSender`. :class:`~lineage_collector.client.LineageClient` is both, and builds
those helpers; they know it only by these protocols, so neither imports the client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from lineage_collector.catalog import EventSchema, SchemaCatalog
from lineage_collector.events import Event


class Emitter(Protocol):
    """Validates, encodes and enqueues events."""

    def emit(
        self, event: Event, *, event_id: str | None = None, event_time: datetime | None = None
    ) -> str:
        """Enqueue ``event``; returns its ``event_id``."""
        ...


class BatchSender(Protocol):
    """Frames and sends records encoded elsewhere, and pseudonymises subjects for them."""

    @property
    def producer_name(self) -> str:
        """What the envelope's ``producer`` says."""
        ...

    @property
    def namespace(self) -> str:
        """What the envelope's ``namespace`` says."""
        ...

    @property
    def catalog(self) -> SchemaCatalog:
        """The event schemas records are encoded with."""
        ...

    def pseudonym(self, subject_id: str) -> str:
        """The pseudonym events carry for ``subject_id``."""
        ...

    def frame(self, schema: EventSchema, body: bytes) -> bytes:
        """An encoded Avro body in the configured framing; refuses one over the size limit."""
        ...

    def send(self, topic_kind: str, key: str, value: bytes) -> None:
        """Hand one record to the producer, for the topic of ``topic_kind``."""
        ...

    def flush(self, timeout: float = 30.0) -> int:
        """Wait until Kafka has everything sent; returns how many events wait in the spool."""
        ...
