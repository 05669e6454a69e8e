"""Sending the spool back to Kafka once Kafka takes events again.

The producer (:mod:`lineage_collector.delivery.producer`) decides when events go to the spool;
this module sends them back. :class:`SpoolReplay` runs in the producer's background thread, one
step after each poll for delivery reports. It shares with the producer only the
:class:`~lineage_collector.delivery.state.Switch` (spooling or direct, and the flags that say
when it may replay), the :class:`~lineage_collector.delivery.state.Counters`, and the Kafka
client the producer currently has.

Replay. The replay waits until librdkafka has settled every event it held when spooling
began (each one is delivered or, failing, written to the segment reserved at the switch),
probes Kafka with a metadata request (retried with backoff from 0.25 s to 2 s), then
produces the spool in order, pipelined, acknowledging records in the spool as their
deliveries come back. A failed replay rewinds to the first unacknowledged record (records
acknowledged after it are skipped, not resent). When the last spooled record has been
produced, the producer goes back to producing directly: librdkafka keeps each partition in
order, so new events queue behind the replayed ones.

Checkpoints. Every second the replay saves how far the spool is acknowledged and syncs it
to disk; a restart after a crash resends what was acknowledged after the last checkpoint.

Cost. While the spool holds events, each one is written to disk by ``send`` and read back
here, all in Python: a few microseconds each way (the normal path is one ``produce`` call),
so a spool drains only while new events come in well below the normal-path rate.

Adopted slots. Several processes may share one spool folder: each takes a slot of its own,
and events left in the slot of a process that ended are replayed by the next producer that
starts (checked every 30 s), whenever its own spool has nothing to send.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message

from lineage_collector.delivery.kafka_client import (
    POLL_S,
    REFUSED,
    describe,
    error_of,
    is_fatal,
)
from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.spool_format import Position
from lineage_collector.delivery.state import Counters, Switch
from lineage_collector.log_hygiene import sdk_logger

# The producer's logger: replay and sending are one component to whoever configures logging.
log = sdk_logger("lineage_collector.delivery.producer")

PROBE_TIMEOUT_S = 2.0
_REPLAY_WINDOW = 50_000  # replayed records librdkafka may hold at once
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.25, 2.0
_HOUSEKEEPING_S = 1.0  # checkpoint and fsync
_ADOPT_EVERY_S = 30.0

# States of a replayed record; from _DELIVERED on, it is settled and can be acknowledged.
_PENDING, _FAILED, _DELIVERED, _DROPPED = 0, 1, 2, 3


class KafkaClient(Protocol):
    """What the replay uses of the producer's Kafka client (a ``confluent_kafka.Producer``)."""

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes,
        *,
        on_delivery: Callable[[KafkaError | None, Message], None],
    ) -> None: ...

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...

    def __len__(self) -> int: ...


class _InFlight:
    """One replayed record on its way to Kafka."""

    __slots__ = ("end", "state")

    def __init__(self, end: Position, state: int = _PENDING) -> None:
        self.end = end
        self.state = state


class SpoolReplay:
    """Sends a producer's spool, then slots left by producers that stopped, back to Kafka.

    Driven by the producer's background thread (:meth:`step`, :meth:`advance_acks`), whose
    state this is. From ``switch`` it reads what other threads set (direct or spooling, the
    reserved segment, the probe and hold flags, closed) and switches it back to direct; to
    ``counters`` it adds delivered and replayed events, and losses. ``kafka`` returns the
    producer's current client (it is replaced after a fatal error). ``replaying`` counts
    replayed records librdkafka holds, for the producer's flush and close.
    """

    def __init__(
        self,
        spool: Spool,
        switch: Switch,
        counters: Counters,
        kafka: Callable[[], KafkaClient],
    ) -> None:
        self._spool = spool
        self._switch = switch
        self._counters = counters
        self._kafka = kafka
        self._adopted: list[Spool] = []
        self.replaying = 0
        self._source: Spool | None = None
        self._rpos = Position(0, 0)
        self._inflight: deque[_InFlight] = deque()
        self._skip: dict[Position, int] = {}
        self._rewind = False
        self._probe_at = 0.0
        self._backoff = _BACKOFF_MIN_S
        self._next_housekeeping = 0.0
        self._next_adopt = 0.0

    def pending(self) -> int:
        """Events on disk not yet acknowledged, in the own spool and the adopted slots."""
        return sum(each.pending for each in (self._spool, *self._adopted))

    def close(self) -> None:
        """Release the own spool and the adopted slots (the background thread is gone)."""
        for each in (self._spool, *self._adopted):
            each.close()

    def step(self) -> float:
        """Move the replay on, then save checkpoints when due; returns how long to poll next."""
        wait = self._replay()
        now = time.monotonic()
        if now >= self._next_housekeeping:
            self._housekeeping(now)
        return wait

    def _on_replayed(self, entry: _InFlight, err: KafkaError | None, msg: Message) -> None:
        # Called once per replayed record: counters are added up in advance_acks instead.
        self.replaying -= 1
        if err is None:
            entry.state = _DELIVERED
        elif err.code() in REFUSED:
            entry.state = _DROPPED  # dropped from the spool: sending again cannot help
            self._counters.lose(1, describe(err, msg.topic()))
        else:
            entry.state = _FAILED
            self._rewind = True
            if self._source is self._spool:
                switch = self._switch
                with switch.lock:
                    switch.start_spooling(f"a replayed event failed: {err.name()}")

    def _replay(self) -> float:
        """Move the replay on by what can be done now; returns how long to poll next."""
        switch = self._switch
        spool = self._spool
        if switch.closed:
            return POLL_S
        if self._source is None:
            if not switch.direct:
                self._source = spool
            elif self._adopted:
                self._source = self._adopted[0]
            else:
                return POLL_S
            self._rpos = self._source.checkpoint
        source = self._source
        if self._rewind:
            if self.replaying:
                return POLL_S
            self._rewind_to_checkpoint(source)
        if source is not spool and not switch.direct:
            # Our own events are spooling: finish what is in flight, then turn to them.
            if not self._inflight:
                self._source = None
                self._skip.clear()
                return 0.0
            return POLL_S
        if source is spool and switch.reserved is not None:
            # Events librdkafka held when spooling began go first: wait until each one is
            # delivered or, failed, written to the reserved segment.
            if len(self._kafka()) > self.replaying:
                return POLL_S
            switch.seal_reserved()
        if switch.hold:
            return POLL_S
        if switch.probe_needed:
            now = time.monotonic()
            if now < self._probe_at:
                return POLL_S
            if not self._kafka_answers(source):
                self._probe_at = now + self._backoff
                self._backoff = min(self._backoff * 2, _BACKOFF_MAX_S)
                return POLL_S
            switch.probe_needed = False
            self._backoff = _BACKOFF_MIN_S
        self._produce_replays(source)
        self._finish(source)
        return POLL_S

    def _kafka_answers(self, source: Spool) -> bool:
        head = source.read(self._rpos, max_records=1, max_bytes=0)
        try:
            # The head's topic keeps the request small; all topics when there is no head.
            self._kafka().list_topics(head[0].topic if head else None, timeout=PROBE_TIMEOUT_S)
        except KafkaException as exc:
            log.debug("Kafka does not answer yet: %s", exc)
            return False
        return True

    def _produce_replays(self, source: Spool) -> None:
        # The replay's hot loop: names bound locally, counters updated once per batch.
        produce = self._kafka().produce
        on_replayed = self._on_replayed
        partial = functools.partial
        skip = self._skip
        enqueue = self._inflight.append
        while self.replaying < _REPLAY_WINDOW:
            records = source.read(self._rpos, max_records=_REPLAY_WINDOW - self.replaying)
            if not records:
                return
            produced = 0
            last = None
            try:
                for record in records:
                    end = record.end
                    entry = _InFlight(end)
                    if skip and end in skip:
                        entry.state = skip.pop(end)  # settled before a failure made us rewind
                    else:
                        try:
                            produce(
                                record.topic,
                                record.value,
                                record.key,
                                on_delivery=partial(on_replayed, entry),
                            )
                        except KafkaException as exc:
                            err = error_of(exc)
                            if is_fatal(err):
                                return  # the client is replaced, then this record is retried
                            entry.state = _DROPPED
                            self._counters.lose(1, f"{err or exc} (topic {record.topic})")
                        else:
                            produced += 1
                    enqueue(entry)
                    last = end
            except BufferError:
                return  # librdkafka is full; go on once deliveries free room
            finally:
                self.replaying += produced
                if last is not None:
                    self._rpos = last

    def _finish(self, source: Spool) -> None:
        switch = self._switch
        spool = self._spool
        if source is spool:
            if not switch.direct and not self._rewind and spool.caught_up(self._rpos):
                switch.stop_spooling(self._rpos)
            if switch.direct and not self._inflight:
                self._source = None
        elif not self._inflight and not self._rewind and source.caught_up(self._rpos):
            log.info("Replayed the events left in %s by a producer that stopped", source.path)
            source.close()
            self._adopted.remove(source)
            self._source = None

    def advance_acks(self) -> None:
        """Acknowledge settled records in the spool, and count the delivered ones."""
        inflight = self._inflight
        count = delivered = 0
        last = None
        while inflight and inflight[0].state >= _DELIVERED:
            entry = inflight.popleft()
            last = entry.end
            count += 1
            delivered += entry.state == _DELIVERED
        if last is not None and self._source is not None:
            self._counters.delivered += delivered
            self._counters.replayed += delivered
            self._source.ack(last, count)

    def _rewind_to_checkpoint(self, source: Spool) -> None:
        # Records delivered after the failed one are not sent again when the rewind
        # reaches them; the rest of the in-flight window is.
        self._skip = {e.end: e.state for e in self._inflight if e.state >= _DELIVERED}
        self._inflight.clear()
        self._rpos = source.checkpoint
        self._rewind = False
        self._switch.probe_needed = True
        self._probe_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, _BACKOFF_MAX_S)

    def _housekeeping(self, now: float) -> None:
        self._next_housekeeping = now + _HOUSEKEEPING_S
        spool = self._spool
        try:
            for each in (spool, *self._adopted):
                each.save_checkpoint()
            spool.sync()
        except OSError as exc:
            log.warning("Could not save the spool's checkpoint in %s: %s", spool.path, exc)
        if now >= self._next_adopt:
            self._next_adopt = now + _ADOPT_EVERY_S
            try:
                found = Spool.adopt(spool.path.parent)
            except OSError as exc:
                log.warning("Could not look for abandoned spool slots: %s", exc)
                return
            for each in found:
                log.info(
                    "Sending %d events left in %s by a producer that stopped",
                    each.pending,
                    each.path,
                )
            self._adopted.extend(found)
