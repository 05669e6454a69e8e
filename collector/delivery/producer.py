"""The SDK's Kafka producer: idempotent confluent-kafka, and a disk spool while Kafka is away.

Normal path. :meth:`EventProducer.send` hands the record to librdkafka and returns; a
background thread polls for delivery reports, so the caller never waits on the network and
pays for one ``produce`` call. Idempotence and ``acks=all`` let librdkafka retry a batch
without losing or repeating it, so a broker blip shorter than ``message.timeout.ms`` is
bridged in memory without anyone noticing.

Spooling (only with ``spool_dir``; :mod:`lineage_collector.delivery.spool` is the disk format). The
producer starts spooling when librdkafka reports all brokers down, when its queue is full and no
delivery has succeeded for a second (Kafka stalls; a full queue while deliveries flow only
makes ``send`` wait for room, since the caller merely outpaces a healthy Kafka), when a
delivery fails with an error that a later attempt may not meet, or when the client hits a
fatal error (it is then replaced). ``message.timeout.ms`` is 30 s, so no accepted event
stays in memory only for longer than that while Kafka is away; a shorter outage is bridged
by librdkafka's own idempotent retries. While spooling, ``send`` appends to the spool.
Events librdkafka already held then are either still delivered or, failing, written to a
segment reserved at the switch, which replays before everything spooled afterwards.

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
"""

from __future__ import annotations

import atexit
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from lineage_collector.delivery.replay import (
    POLL_S,
    PROBE_TIMEOUT_S,
    REFUSED,
    SpoolReplay,
    describe,
)
from lineage_collector.delivery.spool import Position, Spool
from lineage_collector.errors import DeliveryError
from lineage_collector.log_hygiene import sdk_logger
from lineage_collector.security import KafkaSecurity, Secret, explain_refusal

log = sdk_logger(__name__)

# Idempotence and acks=all: the broker de-duplicates retried batches, so a network hiccup
# neither loses nor repeats an event. lz4 keeps CPU low at the volumes inference logging has.
DEFAULT_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 500_000,
    # The longest an undelivered event stays in memory only: then it fails and is spooled.
    "message.timeout.ms": 30_000,
    # Find a restarted broker within a second rather than librdkafka's 10 s backoff ceiling.
    "reconnect.backoff.max.ms": 1_000,
}

# Errors by which Kafka turns a client away, as opposed to not being there.
_REFUSALS = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})

_SPILL_WAIT_S = 5.0
_STALL_S = 1.0  # no delivery for this long, and a full queue goes to the spool
EXIT_TIMEOUT_S = 10.0  # what close() gets when the interpreter exits with the producer open


def _security_of(conf: dict[str, Any]) -> KafkaSecurity:
    """What a librdkafka configuration presents to Kafka, for messages."""
    return KafkaSecurity(
        str(conf.get("security.protocol", "plaintext")).upper(),
        str(conf.get("sasl.mechanisms", "SCRAM-SHA-512")),
        str(conf.get("sasl.username", "")),
        Secret(str(conf.get("sasl.password", ""))),
    )


class EventProducer:
    """Thread-safe producer of encoded events; see the module docstring for the guarantees.

    Counters, for metrics: ``delivered`` (events Kafka acknowledged, replayed ones included),
    ``spooled`` (events written to the spool), ``replayed`` (spooled events Kafka
    acknowledged, also those left by other processes), ``failed`` (events lost: refused by
    Kafka or not writable to the spool). ``last_error`` describes the latest loss.
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
        self._security = _security_of(conf)
        self.refused: str | None = None  # why Kafka last turned this client away
        # librdkafka's own log lines (transient retries while a broker starts, say) go
        # through Python logging instead of straight to stderr of the observed service;
        # a host that configured no logging hears of an outage from us, once, instead.
        conf.setdefault("logger", sdk_logger("lineage_collector.kafka", chatty=True))
        # Always ours: spooling depends on seeing every client error and failed delivery.
        conf["error_cb"] = self._on_error
        conf["on_delivery"] = self._on_delivery
        self._conf = conf
        self._producer = Producer(conf)
        self.delivered = 0
        self.spooled = 0
        self.replayed = 0
        self.failed = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()  # mode, spool appends, loss counters
        self._idle = threading.Condition()  # flush() waits here; the thread notifies
        self._direct = True  # False while events go to the spool
        self._closing = False
        self._closed = False
        self._lost = 0  # losses since the last flush
        self._spooled_now = 0  # events spooled since spooling last began, for the logs
        self._away = False  # Kafka unreachable and no spool: said once, until a delivery
        self._spool: Spool | None = None
        self._replay: SpoolReplay | None = None
        if spool_dir is not None:
            try:
                self._spool = Spool.claim(spool_dir, spool_max_bytes)
            except OSError as exc:
                log.error(
                    "The spool folder %s cannot be used (%s): while Kafka is unreachable, "
                    "events wait in memory only. Check LINEAGE_SPOOL_DIR.",
                    spool_dir,
                    exc,
                )
            else:
                self._replay = SpoolReplay(self, self._spool)
        # Switching state the replay reads; it runs in the background thread.
        self._reserved: int | None = None  # set under _lock by whoever starts spooling
        self._probe_needed = True  # also set by threads that start spooling
        self._hold = False  # set by flush/close while they move memory to disk
        self._progress_at = 0.0  # when a delivery last succeeded
        self._fatal: KafkaError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lineage-producer", daemon=True)
        self._thread.start()
        atexit.register(self._close_at_exit)

    # -- sending ---------------------------------------------------------------------------

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        """Hand one record to Kafka, or to the spool while Kafka cannot take it.

        Never waits for an unreachable or stalled Kafka; only while Kafka delivers yet cannot
        keep up with the caller does it wait for room in the local queue (without a spool it
        always waits for room, as librdkafka alone would). Raises
        :class:`~lineage_collector.errors.SpoolFullError` when the spool is full, and
        :class:`DeliveryError` when the client refuses the record outright (too large, say)
        or the producer is closed.
        """
        if self._direct:
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                pass
            except KafkaException as exc:
                self._raise_unless_fatal(exc, topic)
        self._send_slowly(topic, key, value)

    def _send_slowly(self, topic: str, key: bytes, value: bytes) -> None:
        spool = self._spool
        if spool is None:
            self._send_waiting(topic, key, value)
            return
        # A full queue while deliveries flow means the caller outpaces a healthy Kafka: wait
        # for room, as any producer would. Only a stalled Kafka sends events to the disk.
        while self._direct and time.monotonic() - self._progress_at < _STALL_S:
            time.sleep(0.001)
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                continue
            except KafkaException as exc:
                self._raise_unless_fatal(exc, topic)
                break
        with self._lock:
            if self._closed:
                raise DeliveryError("The lineage producer is closed; create a new client.")
            if self._direct:
                try:
                    self._producer.produce(topic, value, key)
                    return
                except BufferError:
                    self._start_spooling("the local queue is full and Kafka stalls")
                except KafkaException as exc:
                    self._raise_unless_fatal(exc, topic)
                    self._start_spooling("the Kafka client failed")
            try:
                spool.append(topic, key, value)
            except OSError as exc:
                raise DeliveryError(
                    f"Kafka cannot take events now and the spool {spool.path} refused one: "
                    f"{exc}. Free disk space or point LINEAGE_SPOOL_DIR elsewhere."
                ) from exc
            self._count_spooled(1)

    def _send_waiting(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            if self._closed:
                raise DeliveryError("The lineage producer is closed; create a new client.")
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                time.sleep(0.001)  # the background thread frees room as deliveries return
            except KafkaException as exc:
                self._raise_unless_fatal(exc, topic)
                time.sleep(0.05)  # until the background thread has replaced the client

    @staticmethod
    def _raise_unless_fatal(exc: KafkaException, topic: str) -> None:
        err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        if err is not None and (err.fatal() or err.code() == KafkaError._FATAL):
            return
        raise DeliveryError(f"Kafka refused an event for topic {topic}: {err or exc}") from exc

    def _start_spooling(self, reason: str) -> None:
        """Send new events to the spool from now on (caller holds ``_lock``)."""
        if not self._direct or self._spool is None:
            return
        try:
            self._reserved = self._spool.reserve_segment()
        except OSError as exc:
            log.error("Cannot write to the spool %s: %s", self._spool.path, exc)
            return
        self._direct = False
        self._probe_needed = True
        self._spooled_now = 0
        log.debug("spooling events: %s", reason)

    def _count_spooled(self, count: int) -> None:
        # Caller holds _lock. One warning per outage, and only if an event did go to disk.
        if self._spooled_now == 0 and self._spool is not None:
            log.warning(
                "Kafka cannot take events now; they wait in the spool %s and are sent in "
                "order once it is back.",
                self._spool.path,
            )
        self._spooled_now += count
        self.spooled += count

    def _lose(self, count: int, error: str) -> None:
        with self._lock:
            first = self._lost == 0
            self.failed += count
            self._lost += count
            self.last_error = error
        if first:
            log.error("%d lineage events lost: %s", count, error)

    # -- callbacks (run in the background thread, inside poll) ----------------------------

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in _REFUSALS:
            # Kafka turned us away (credentials, certificates): retrying will not help, so
            # say so once, clearly, instead of spooling in silence.
            problem = explain_refusal(
                err.name(), err.str(), self._conf["bootstrap.servers"], self._security
            )
            if problem != self.refused:
                self.refused = problem
                log.error("%s; events wait in the spool or in memory meanwhile", problem)
        if err.fatal():
            self._fatal = err
            log.error("The Kafka client hit a fatal error (%s); replacing it.", err.str())
        elif err.code() == KafkaError._ALL_BROKERS_DOWN and self._spool is not None:
            with self._lock:
                self._start_spooling("all brokers are down")
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            # With a spool, its warning says so once; without, this is the word a service
            # hears of the outage (librdkafka's account of its retries may be silenced).
            if not self._away:
                self._away = True
                log.warning(
                    "Kafka at %s does not answer; events wait in memory for up to %.0f s, "
                    "then fail. A spool folder (LINEAGE_SPOOL_DIR) would keep them on disk.",
                    self._conf["bootstrap.servers"],
                    float(self._conf["message.timeout.ms"]) / 1000,
                )
        else:
            # Connection trouble is retried by librdkafka; keep it quiet.
            log.debug("kafka client error: %s", err)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        spool = self._spool
        if spool is None or err.code() in REFUSED:
            self._lose(1, describe(err, msg.topic()))
            return
        with self._lock:
            self._start_spooling(f"a delivery failed: {err.name()}")
            try:
                spool.append(
                    msg.topic() or "",
                    msg.key() or b"",
                    msg.value() or b"",
                    into=self._reserved,
                    force=True,  # already accepted: it must not be lost to the size limit
                )
            except OSError as exc:
                problem: str | None = f"spool write failed: {exc}; {describe(err, msg.topic())}"
            else:
                problem = None
                self._count_spooled(1)
        if problem is not None:
            self._lose(1, problem)

    # -- the background thread -------------------------------------------------------------

    def _run(self) -> None:
        wait = POLL_S
        delivered = 0
        while not self._stop.is_set():
            try:
                self._producer.poll(wait)
                if self.delivered != delivered:
                    delivered = self.delivered
                    self._progress_at = time.monotonic()
                    if self._away:
                        self._away = False
                        log.warning("Kafka takes events again.")
                wait = self._step()
            except Exception:
                # Nothing may take the host application down, this thread included.
                log.exception("Unexpected error in the lineage producer thread; carrying on")
                self._stop.wait(0.5)
                wait = POLL_S
            with self._idle:
                self._idle.notify_all()

    def _step(self) -> float:
        if self._fatal is not None:
            self._replace_client()
        if self._replay is None:
            return POLL_S
        self._replay.advance_acks()
        return self._replay.step()

    def _stop_spooling(self, replayed_to: Position) -> None:
        """Send events directly again: the replay has produced the spool up to its end."""
        spool = self._spool
        assert spool is not None
        with self._lock:
            # Checked again under the lock: no send can append in between.
            if self._reserved is None and spool.caught_up(replayed_to):
                self._direct = True
                if self._spooled_now:
                    log.warning(
                        "Kafka takes events again; the %d spooled meanwhile are sent.",
                        self._spooled_now,
                    )

    def _replace_client(self) -> None:
        """After a fatal error: spool what the old client held, then start a new one."""
        self._fatal = None
        old = self._producer
        with self._lock:
            self._start_spooling("the Kafka client hit a fatal error")
        old.purge(in_queue=True, in_flight=True)
        deadline = time.monotonic() + _SPILL_WAIT_S
        while len(old) and time.monotonic() < deadline:
            old.poll(POLL_S)
        if len(old):
            self._lose(len(old), "the Kafka client failed and did not give back its events")
        new = Producer(self._conf)
        with self._lock:
            self._producer = new

    # -- flushing and closing --------------------------------------------------------------

    def _on_disk(self) -> int:
        return 0 if self._replay is None else self._replay.pending()

    def _waiting(self) -> int:
        # len() counts queued callbacks too, not only events; the thread serves them quickly.
        in_memory = len(self._producer)
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
                stalled = time.monotonic() - self._progress_at > _STALL_S
                if while_delivering and not self._direct and stalled:
                    return waiting
                self._idle.wait(min(remaining, POLL_S))

    def _drain(self, deadline: float) -> bool:
        """Serve delivery reports until librdkafka holds nothing (True) or ``deadline``."""
        with self._idle:
            while len(self._producer):
                if time.monotonic() >= deadline:
                    return False
                if self._thread.is_alive():
                    self._idle.wait(POLL_S)
                else:
                    self._producer.poll(POLL_S)
            return True

    def _spill(self) -> int:
        """Move every event librdkafka still holds to the spool; returns events waiting."""
        with self._lock:
            self._start_spooling("flush timed out")
        self._hold = True
        try:
            self._producer.purge(in_queue=True, in_flight=True)
            drained = self._drain(time.monotonic() + _SPILL_WAIT_S)
        finally:
            self._hold = False
        return self._on_disk() if drained else self._waiting()

    def _raise_for_losses(self, waiting: int, timeout: float) -> None:
        """Raise for events lost since the last flush, or, without a spool, still waiting."""
        with self._lock:
            lost, self._lost = self._lost, 0
            last = self.last_error
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
        with self._lock:
            if self._closing:
                return
            self._closing = True
        atexit.unregister(self._close_at_exit)
        waiting = self._wait_idle(time.monotonic() + timeout, while_delivering=True)
        with self._lock:
            if waiting:
                self._start_spooling("closing")  # what fails from now on keeps its order
            # send() refuses events from here on, so none can slip past the purge below.
            self._closed = True
            self._direct = False
        self._hold = True  # no more replays: what is on disk stays there for the next run
        if waiting and self._spool is not None:
            self._producer.purge(in_queue=True, in_flight=True)
            self._drain(time.monotonic() + _SPILL_WAIT_S)
        self._stop.set()
        self._thread.join(PROBE_TIMEOUT_S + 5)
        if self._spool is not None and self._replay is not None:
            # The thread is gone: serve whatever delivery reports it left, here.
            if not self._drain(time.monotonic() + _SPILL_WAIT_S):
                stuck = len(self._producer) - self._replay.replaying
                if stuck > 0:
                    self._lose(stuck, "the Kafka client kept them after closing")
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
