"""A confluent-kafka producer set up so that no accepted event is lost or duplicated by retries.

Delivery is asynchronous: :meth:`EventProducer.send` only enqueues; failures are reported by
the delivery callback and surface in :meth:`EventProducer.flush`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from collector.errors import DeliveryError

log = logging.getLogger(__name__)

# Idempotence and acks=all: the broker de-duplicates retried batches, so a network hiccup
# neither loses nor repeats an event. lz4 keeps CPU low at the volumes inference logging has.
DEFAULT_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 500_000,
    "message.timeout.ms": 120_000,
}


class EventProducer:
    """Thin, thread-safe wrapper that counts deliveries and keeps the last failure."""

    def __init__(self, bootstrap: str, config: dict[str, Any] | None = None) -> None:
        conf = {**DEFAULT_CONFIG, **(config or {}), "bootstrap.servers": bootstrap}
        conf.setdefault("error_cb", self._on_error)
        # librdkafka's own log lines (transient retries while a broker starts, say) go
        # through Python logging instead of straight to stderr of the observed service.
        conf.setdefault("logger", logging.getLogger("collector.kafka"))
        self._producer = Producer(conf)
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        self.last_error: str | None = None

    def _on_error(self, err: KafkaError) -> None:
        # Connection trouble is retried by librdkafka; log it once per occurrence, quietly.
        log.debug("kafka client error: %s", err)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        with self._lock:
            if err is None:
                self.delivered += 1
            else:
                self.failed += 1
                self.last_error = f"{err.name()}: {err.str()} (topic {msg.topic()})"

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        """Enqueue one record; when the local queue is full, serve callbacks until it has room."""
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every enqueued record; raise :class:`DeliveryError` if any was refused."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryError(
                f"{remaining} events still waiting for Kafka after {timeout:.0f}s; "
                "is the broker reachable? Check LINEAGE_KAFKA_BOOTSTRAP or `lineage status`."
            )
        with self._lock:
            failed, last = self.failed, self.last_error
            self.failed, self.last_error = 0, None
        if failed:
            raise DeliveryError(f"Kafka refused {failed} events; last error: {last}")
