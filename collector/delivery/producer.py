"""The SDK's Kafka producer: idempotent confluent-kafka, and a disk spool while Kafka is away.

Normal path. :meth:`EventProducer.send` hands the record to librdkafka and returns; a
background thread polls for delivery reports, so the caller never waits on the network and
pays for one ``produce`` call. Idempotence and ``acks=all`` let librdkafka retry a batch
without losing or repeating it, so a broker blip shorter than ``message.timeout.ms`` is
bridged in memory without anyone noticing.

Spooling (only with ``spool_dir``; :mod:`lineage_collector.delivery.spool` keeps the events on
disk). The producer starts spooling when librdkafka reports all brokers down, when its queue
is full and no delivery has succeeded for a second (Kafka stalls; a full queue while
deliveries flow only makes ``send`` wait for room, since the caller merely outpaces a healthy
Kafka), when a delivery fails with an error that a later attempt may not meet, or when the
client hits a fatal error (it is then replaced). ``message.timeout.ms`` is 30 s, so no
accepted event stays in memory only for longer than that while Kafka is away; a shorter
outage is bridged by librdkafka's own idempotent retries. While spooling, ``send`` appends to
the spool. Events librdkafka already held then are either still delivered or, failing,
written to a segment reserved at the switch, which replays before everything spooled
afterwards.

Replay (:mod:`lineage_collector.delivery.replay`, also for the cost of spooling and for spool
folders shared by several processes). Once librdkafka has settled what it held and Kafka answers
again, the background thread sends the spool back in order, acknowledging records in it as their
deliveries come back; then ``send`` goes back to producing directly, and new events queue
behind the replayed ones.

Guarantees. Every event ``send`` accepted is delivered, written to the spool, or counted in
:attr:`EventProducer.failed` and reported by :meth:`EventProducer.flush` (Kafka refused it as
invalid, or the disk refused the spool write). Events of one thread reach a partition in the
order they were sent, spooled or not; only a failure that hits part of a burst in flight can
resend some of it after later events. Without a crash nothing reaches Kafka twice, with two
exceptions, both about events the broker may have written without confirming it: a delivery
that timed out, and one still in flight when a flush or close ran out of time and moved it to
disk; both are spooled and sent again. A restart after a crash resends what was acknowledged
after the last checkpoint. Duplicates carry the same ``event_id``; consumers drop them.

Parts. This module builds the producer and runs its background thread, flush and close; the
send path and delivery reports are :mod:`~lineage_collector.delivery.sending`, librdkafka's
settings and errors :mod:`~lineage_collector.delivery.kafka_client`, and what the threads
share (spooling or not, counters) :mod:`~lineage_collector.delivery.state`.
"""

from __future__ import annotations

import atexit
import threading
import time
from pathlib import Path
from typing import Any

from lineage_collector.delivery.kafka_client import DEFAULT_CONFIG, POLL_S, ClientErrors
from lineage_collector.delivery.replay import PROBE_TIMEOUT_S, SpoolReplay
from lineage_collector.delivery.sending import SPILL_WAIT_S, Sender
from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.state import Counters, Switch
from lineage_collector.errors import DeliveryError
from lineage_collector.log_hygiene import sdk_logger

log = sdk_logger(__name__)

EXIT_TIMEOUT_S = 10.0  # what close() gets when the interpreter exits with the producer open


class EventProducer:
    """Thread-safe producer of encoded events; see the module docstring for the guarantees.

    Counters, for metrics: ``delivered`` (events Kafka acknowledged, replayed ones included),
    ``spooled`` (events written to the spool), ``replayed`` (spooled events Kafka
    acknowledged, also those left by other processes), ``failed`` (events lost: refused by
    Kafka or not writable to the spool). ``last_error`` describes the latest loss,
    ``refused`` why Kafka last turned the client away.
    """

    def __init__(
        self,
        bootstrap: str,
        config: dict[str, Any] | None = None,
        *,
        spool_dir: Path | None = None,
        spool_max_bytes: int = 1 << 30,
    ) -> None:
        conf = {**DEFAULT_CONFIG, **(config or {}), "bootstrap.servers": bootstrap}
        self._counters = Counters()
        self._spool = None if spool_dir is None else _claim_spool(spool_dir, spool_max_bytes)
        self._switch = Switch(self._spool, self._counters)
        self._errors = ClientErrors(conf, self._switch)
        # librdkafka's own log lines (transient retries while a broker starts, say) go
        # through Python logging instead of straight to stderr of the observed service;
        # a host that configured no logging hears of an outage from us, once, instead.
        conf.setdefault("logger", sdk_logger("lineage_collector.kafka", chatty=True))
        # Always ours: spooling depends on seeing every client error.
        conf["error_cb"] = self._errors
        try:
            self._sender = Sender(conf, self._switch, self._counters, self._spool)
        except BaseException:
            if self._spool is not None:
                self._spool.close()  # and with it the slot's lock
            raise
        self._replay: SpoolReplay | None = None
        if self._spool is not None:
            sender = self._sender
            self._replay = SpoolReplay(
                self._spool, self._switch, self._counters, lambda: sender.client
            )
        self._idle = threading.Condition()  # flush() waits here; the thread notifies
        self._closing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lineage-producer", daemon=True)
        self._thread.start()
        atexit.register(self._close_at_exit)

    @property
    def delivered(self) -> int:
        """Events Kafka acknowledged, replayed ones included."""
        return self._counters.delivered

    @property
    def spooled(self) -> int:
        """Events written to the spool."""
        return self._counters.spooled

    @property
    def replayed(self) -> int:
        """Spooled events Kafka acknowledged, also those left by other processes."""
        return self._counters.replayed

    @property
    def failed(self) -> int:
        """Events lost: refused by Kafka, or not writable to the spool."""
        return self._counters.failed

    @property
    def last_error(self) -> str | None:
        """What the latest loss was."""
        return self._counters.last_error

    @property
    def refused(self) -> str | None:
        """Why Kafka last turned this client away (credentials, certificates), if it did."""
        return self._errors.refused

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        """Hand one record to Kafka, or to the spool while Kafka cannot take it.

        Never waits for an unreachable or stalled Kafka; only while Kafka delivers yet cannot
        keep up with the caller does it wait for room in the local queue (without a spool it
        always waits for room, as librdkafka alone would). Raises
        :class:`~lineage_collector.errors.SpoolFullError` when the spool is full, and
        :class:`DeliveryError` when the client refuses the record outright (too large, say)
        or the producer is closed.
        """
        self._sender.send(topic, key, value)

    # -- the background thread -------------------------------------------------------------

    def _run(self) -> None:
        wait = POLL_S
        delivered = 0
        while not self._stop.is_set():
            try:
                self._sender.client.poll(wait)
                if self._counters.delivered != delivered:
                    delivered = self._counters.delivered
                    self._sender.progress_at = time.monotonic()
                    self._errors.back()
                wait = self._step()
            except Exception:
                # Nothing may take the host application down, this thread included.
                log.exception("Unexpected error in the lineage producer thread; carrying on")
                self._stop.wait(0.5)
                wait = POLL_S
            with self._idle:
                self._idle.notify_all()

    def _step(self) -> float:
        if self._errors.fatal is not None:
            self._errors.fatal = None
            self._sender.replace_client()
        if self._replay is None:
            return POLL_S
        self._replay.advance_acks()
        return self._replay.step()

    # -- flushing and closing --------------------------------------------------------------

    def _on_disk(self) -> int:
        return 0 if self._replay is None else self._replay.pending()

    def _waiting(self) -> int:
        # len() counts queued callbacks too, not only events; the thread serves them quickly.
        in_memory = len(self._sender.client)
        replaying = 0 if self._replay is None else self._replay.replaying
        # Replayed records are in memory and on disk at once; count them once.
        return self._on_disk() + (max(0, in_memory - replaying) if in_memory else 0)

    def _wait_idle(self, deadline: float, *, while_delivering: bool = False) -> int:
        """Wait until nothing waits or ``deadline``; with ``while_delivering``, also stop
        once the producer spools and no delivery has succeeded for a while."""
        with self._idle:
            while True:
                waiting = self._waiting()
                remaining = deadline - time.monotonic()
                if not waiting or remaining <= 0 or not self._thread.is_alive():
                    return waiting
                if while_delivering and not self._switch.direct and self._sender.stalled():
                    return waiting
                self._idle.wait(min(remaining, POLL_S))

    def _drain(self, deadline: float) -> bool:
        """Serve delivery reports until librdkafka holds nothing (True) or ``deadline``."""
        with self._idle:
            while len(self._sender.client):
                if time.monotonic() >= deadline:
                    return False
                if self._thread.is_alive():
                    self._idle.wait(POLL_S)
                else:
                    self._sender.client.poll(POLL_S)
            return True

    def _spill(self) -> int:
        """Move every event librdkafka still holds to the spool; returns events waiting."""
        switch = self._switch
        with switch.lock:
            switch.start_spooling("flush timed out")
        switch.hold = True
        try:
            self._sender.client.purge(in_queue=True, in_flight=True)
            drained = self._drain(time.monotonic() + SPILL_WAIT_S)
        finally:
            switch.hold = False
        return self._on_disk() if drained else self._waiting()

    def _raise_for_losses(self, waiting: int, timeout: float) -> None:
        """Raise for events lost since the last flush, or, without a spool, still waiting."""
        lost, last = self._counters.take_losses()
        if lost:
            raise DeliveryError(f"{lost} events were lost; last error: {last}")
        if waiting and self._spool is None:
            raise DeliveryError(
                f"{waiting} events still waiting for Kafka after {timeout:.0f}s; "
                "is the broker reachable? Check LINEAGE_KAFKA_BOOTSTRAP or `lineage status`."
            )

    def flush(self, timeout: float = 30.0) -> int:
        """Wait up to ``timeout`` s for Kafka to acknowledge everything, spool included.

        Returns how many events still wait, all of them in the spool (0: all delivered).
        Raises :class:`DeliveryError` if events were lost since the last flush (refused by
        Kafka, or not writable to the spool); without a spool also if any still wait.
        """
        waiting = self._wait_idle(time.monotonic() + timeout)
        if waiting and self._spool is not None:
            waiting = self._spill()
        self._raise_for_losses(waiting, timeout)
        return waiting

    def close(self, timeout: float = 30.0) -> None:
        """Flush, stop the background thread and release the spool.

        Waits up to ``timeout`` s while Kafka takes events; not for a Kafka that is away
        (spooling, and no delivery for a second). Events Kafka has not taken by then stay in
        the spool for the next producer that starts with the same folder (a warning says how
        many); that is no error. Raises :class:`DeliveryError` only for events lost, or,
        without a spool, not delivered.
        """
        switch = self._switch
        with switch.lock:
            if self._closing:
                return
            self._closing = True
        atexit.unregister(self._close_at_exit)
        waiting = self._wait_idle(time.monotonic() + timeout, while_delivering=True)
        with switch.lock:
            if waiting:
                switch.start_spooling("closing")  # what fails from now on keeps its order
            # send() refuses events from here on, so none can slip past the purge below.
            switch.closed = True
            switch.direct = False
        switch.hold = True  # no more replays: what is on disk stays there for the next run
        if waiting and self._spool is not None:
            self._sender.client.purge(in_queue=True, in_flight=True)
            self._drain(time.monotonic() + SPILL_WAIT_S)
        self._stop.set()
        self._thread.join(PROBE_TIMEOUT_S + 5)
        if self._spool is not None and self._replay is not None:
            # The thread is gone: serve whatever delivery reports it left, here.
            if not self._drain(time.monotonic() + SPILL_WAIT_S):
                stuck = len(self._sender.client) - self._replay.replaying
                if stuck > 0:
                    self._counters.lose(stuck, "the Kafka client kept them after closing")
            self._replay.advance_acks()
            waiting = self._replay.pending()
            self._replay.close()
            if waiting:
                log.warning(
                    "%d lineage events wait in the spool folder %s; Kafka could not take them "
                    "before closing. The next producer started with this folder "
                    "(LINEAGE_SPOOL_DIR) sends them.",
                    waiting,
                    self._spool.path.parent,
                )
        self._raise_for_losses(waiting, timeout)

    def _close_at_exit(self) -> None:
        try:
            self.close(EXIT_TIMEOUT_S)
        except Exception as exc:
            log.error("Closing the lineage producer at exit: %s", exc)


def _claim_spool(spool_dir: Path, max_bytes: int) -> Spool | None:
    """A slot of ``spool_dir`` for this producer; None, said loudly, if the folder is unusable."""
    try:
        return Spool.claim(spool_dir, max_bytes)
    except OSError as exc:
        log.error(
            "The spool folder %s cannot be used (%s): while Kafka is unreachable, "
            "events wait in memory only. Check LINEAGE_SPOOL_DIR.",
            spool_dir,
            exc,
        )
        return None
