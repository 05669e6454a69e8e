"""The send path: records to librdkafka, or to the spool while Kafka cannot take them.

:class:`Sender` owns the producer's Kafka client. :meth:`Sender.send` is what the caller of
:meth:`~lineage_collector.delivery.producer.EventProducer.send` pays for: one ``produce``
call while Kafka takes events. Delivery reports (:meth:`Sender.on_delivery`, served by the
producer's background thread) count what Kafka acknowledged and spool what failed with an
error a later attempt may not meet. After a fatal error the background thread replaces the
client (:meth:`Sender.replace_client`).
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from lineage_collector.delivery.kafka_client import (
    POLL_S,
    REFUSED,
    describe,
    error_of,
    is_fatal,
)
from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.state import Counters, Switch
from lineage_collector.errors import DeliveryError

SPILL_WAIT_S = 5.0  # how long a purged client gets to hand back what it held
_STALL_S = 1.0  # no delivery for this long, and a full queue goes to the spool


class Sender:
    """Sends records through the current Kafka client, falling back to ``spool``.

    ``conf`` is librdkafka's configuration; the sender adds its delivery callback. The
    background thread sets ``progress_at`` when deliveries come back.
    """

    def __init__(
        self, conf: dict[str, Any], switch: Switch, counters: Counters, spool: Spool | None
    ) -> None:
        self._switch = switch
        self._counters = counters
        self._spool = spool
        # Always ours: spooling depends on seeing every failed delivery.
        self._conf = {**conf, "on_delivery": self.on_delivery}
        self.client = Producer(self._conf)
        self.progress_at = 0.0  # when a delivery last succeeded

    def stalled(self) -> bool:
        """Whether no delivery has succeeded for a while."""
        return time.monotonic() - self.progress_at > _STALL_S

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        """See :meth:`~lineage_collector.delivery.producer.EventProducer.send`."""
        if self._switch.direct:
            try:
                self.client.produce(topic, value, key)
                return
            except BufferError:
                pass
            except KafkaException as exc:
                _raise_unless_fatal(exc, topic)
        self._send_slowly(topic, key, value)

    def _send_slowly(self, topic: str, key: bytes, value: bytes) -> None:
        spool = self._spool
        if spool is None:
            self._send_waiting(topic, key, value)
            return
        switch = self._switch
        # A full queue while deliveries flow means the caller outpaces a healthy Kafka: wait
        # for room, as any producer would. Only a stalled Kafka sends events to the disk.
        while switch.direct and time.monotonic() - self.progress_at < _STALL_S:
            time.sleep(0.001)
            try:
                self.client.produce(topic, value, key)
                return
            except BufferError:
                continue
            except KafkaException as exc:
                _raise_unless_fatal(exc, topic)
                break
        with switch.lock:
            if switch.closed:
                raise DeliveryError("The lineage producer is closed; create a new client.")
            if switch.direct:
                try:
                    self.client.produce(topic, value, key)
                    return
                except BufferError:
                    switch.start_spooling("the local queue is full and Kafka stalls")
                except KafkaException as exc:
                    _raise_unless_fatal(exc, topic)
                    switch.start_spooling("the Kafka client failed")
            try:
                spool.append(topic, key, value)
            except OSError as exc:
                raise DeliveryError(
                    f"Kafka cannot take events now and the spool {spool.path} refused one: "
                    f"{exc}. Free disk space or point LINEAGE_SPOOL_DIR elsewhere."
                ) from exc
            switch.count_spooled(1)

    def _send_waiting(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            if self._switch.closed:
                raise DeliveryError("The lineage producer is closed; create a new client.")
            try:
                self.client.produce(topic, value, key)
                return
            except BufferError:
                time.sleep(0.001)  # the background thread frees room as deliveries return
            except KafkaException as exc:
                _raise_unless_fatal(exc, topic)
                time.sleep(0.05)  # until the background thread has replaced the client

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        """librdkafka's report on one record: count it, or spool it, or count it lost."""
        if err is None:
            self._counters.delivered += 1
            return
        spool = self._spool
        if spool is None or err.code() in REFUSED:
            self._counters.lose(1, describe(err, msg.topic()))
            return
        switch = self._switch
        with switch.lock:
            switch.start_spooling(f"a delivery failed: {err.name()}")
            try:
                spool.append(
                    msg.topic() or "",
                    msg.key() or b"",
                    msg.value() or b"",
                    into=switch.reserved,
                    force=True,  # already accepted: it must not be lost to the size limit
                )
            except OSError as exc:
                problem: str | None = f"spool write failed: {exc}; {describe(err, msg.topic())}"
            else:
                problem = None
                switch.count_spooled(1)
        if problem is not None:
            self._counters.lose(1, problem)

    def replace_client(self) -> None:
        """After a fatal error: spool what the old client held, then start a new one."""
        old = self.client
        with self._switch.lock:
            self._switch.start_spooling("the Kafka client hit a fatal error")
        old.purge(in_queue=True, in_flight=True)
        deadline = time.monotonic() + SPILL_WAIT_S
        while len(old) and time.monotonic() < deadline:
            old.poll(POLL_S)
        if len(old):
            self._counters.lose(
                len(old), "the Kafka client failed and did not give back its events"
            )
        new = Producer(self._conf)
        with self._switch.lock:
            self.client = new


def _raise_unless_fatal(exc: KafkaException, topic: str) -> None:
    err = error_of(exc)
    if is_fatal(err):
        return  # the background thread replaces the client; the record goes again
    raise DeliveryError(f"Kafka refused an event for topic {topic}: {err or exc}") from exc
