"""What the producer's threads share: where new events go, and what has become of them.

:class:`Switch` says whether new events go straight to librdkafka or to the spool, with the
flags that tell the replay when it may send the spool back. :class:`Counters` counts events
delivered, spooled, replayed and lost. The threads that send, the delivery callbacks and the
replay (:mod:`lineage_collector.delivery.replay`) all hold the same two objects; nothing else
passes between them.
"""

from __future__ import annotations

import threading

from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.spool_format import Position
from lineage_collector.log_hygiene import sdk_logger

# The producer's logger: sending, spooling and replay are one component to whoever
# configures logging.
log = sdk_logger("lineage_collector.delivery.producer")


class Counters:
    """Events delivered, spooled, replayed and lost, for metrics; and the losses the next
    flush reports.

    ``delivered`` and ``replayed`` are added to by the background thread only, ``spooled``
    under the switch's lock, ``failed`` and ``last_error`` through :meth:`lose`.
    """

    def __init__(self) -> None:
        self.delivered = 0  # acknowledged by Kafka, replayed events included
        self.spooled = 0  # written to the spool
        self.replayed = 0  # spooled events Kafka acknowledged, also those of other processes
        self.failed = 0  # lost: refused by Kafka, or not writable to the spool
        self.last_error: str | None = None  # what the latest loss was
        self._lost = 0  # losses since the last flush
        self._lock = threading.Lock()

    def lose(self, count: int, error: str) -> None:
        """Count ``count`` events lost for ``error``; the first since a flush is logged."""
        with self._lock:
            first = self._lost == 0
            self.failed += count
            self._lost += count
            self.last_error = error
        if first:
            log.error("%d lineage events lost: %s", count, error)

    def take_losses(self) -> tuple[int, str | None]:
        """Events lost since the last call, and the latest error."""
        with self._lock:
            lost, self._lost = self._lost, 0
            return lost, self.last_error


class Switch:
    """Where new events go: straight to librdkafka (``direct``), or to ``spool``.

    ``lock`` guards the mode, the reserved segment and appends to the spool. Any thread may
    start spooling; only the replay stops it, once it has sent the spool up to its end.
    """

    def __init__(self, spool: Spool | None, counters: Counters) -> None:
        self.lock = threading.Lock()
        self.spool = spool
        self.direct = True  # False while events go to the spool
        self.closed = False  # the producer refuses events: nothing is replayed any more
        # The segment, reserved when spooling began, for events librdkafka held then and that
        # fail later; the replay seals it once librdkafka has settled them all.
        self.reserved: int | None = None
        self.probe_needed = True  # Kafka must answer a probe before the replay produces
        self.hold = False  # set while flush or close move memory to disk: replay waits
        self._counters = counters
        self._spooled_now = 0  # events spooled since spooling last began, for the logs

    def start_spooling(self, reason: str) -> None:
        """Send new events to the spool from now on (the caller holds ``lock``)."""
        if not self.direct or self.spool is None:
            return
        try:
            self.reserved = self.spool.reserve_segment()
        except OSError as exc:
            log.error("Cannot write to the spool %s: %s", self.spool.path, exc)
            return
        self.direct = False
        self.probe_needed = True
        self._spooled_now = 0
        log.debug("spooling events: %s", reason)

    def count_spooled(self, count: int) -> None:
        """``count`` events went to the spool (the caller holds ``lock``)."""
        # One warning per outage, and only if an event did go to disk.
        if self._spooled_now == 0 and self.spool is not None:
            log.warning(
                "Kafka cannot take events now; they wait in the spool %s and are sent in "
                "order once it is back.",
                self.spool.path,
            )
        self._spooled_now += count
        self._counters.spooled += count

    def seal_reserved(self) -> None:
        """librdkafka has settled what it held when spooling began: replay past it."""
        with self.lock:
            if self.reserved is not None and self.spool is not None:
                self.spool.seal(self.reserved)
            self.reserved = None

    def stop_spooling(self, replayed_to: Position) -> None:
        """Send events directly again, if the spool holds nothing past ``replayed_to``."""
        spool = self.spool
        assert spool is not None
        with self.lock:
            # Checked again under the lock: no send can append in between.
            if self.reserved is None and spool.caught_up(replayed_to):
                self.direct = True
                if self._spooled_now:
                    log.warning(
                        "Kafka takes events again; the %d spooled meanwhile are sent.",
                        self._spooled_now,
                    )
