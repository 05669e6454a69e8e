"""The SDK's Kafka producer: idempotent confluent-kafka, and a disk spool while Kafka is away.

Normal path. :meth:`EventProducer.send` hands the record to librdkafka and returns; a
background thread polls for delivery reports, so the caller never waits on the network and
pays for one ``produce`` call. Idempotence and ``acks=all`` let librdkafka retry a batch
without losing or repeating it, so a broker blip shorter than ``message.timeout.ms`` is
bridged in memory without anyone noticing.

Spooling (only with ``spool_dir``; :mod:`collector.spool` is the disk format). The producer
starts spooling when librdkafka reports all brokers down, when its queue is full and no
delivery has succeeded for a second (Kafka stalls; a full queue while deliveries flow only
makes ``send`` wait for room, since the caller merely outpaces a healthy Kafka), when a
delivery fails with an error that a later attempt may not meet, or when the client hits a
fatal error (it is then replaced). ``message.timeout.ms`` is 30 s, so no accepted event
stays in memory only for longer than that while Kafka is away; a shorter outage is bridged
by librdkafka's own idempotent retries. While spooling, ``send`` appends to the spool.
Events librdkafka already held then are either still delivered or, failing, written to a
segment reserved at the switch, which replays before everything spooled afterwards.

Replay. The background thread waits until librdkafka has settled every event it held,
probes Kafka with a metadata request (retried with backoff from 0.25 s to 2 s), then produces
the spool in order, pipelined, acknowledging records in the spool as their deliveries come
back. A failed replay rewinds to the first unacknowledged record (records acknowledged after
it are skipped, not resent). When the last spooled record has been produced, ``send`` goes
back to producing directly: librdkafka keeps each partition in order, so new events queue
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

Cost. The normal path is one ``produce`` call. While the spool holds events, each one is
written to disk by ``send`` and read back by the replay, all in Python: a few microseconds
each way, so a spool drains only while new events come in well below the normal-path rate.

Several processes may share one spool folder: each takes a slot of its own, and events left
in the slot of a process that ended are replayed by the next producer that starts (checked
every 30 s).
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from collector.errors import DeliveryError
from collector.spool import Position, Spool

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
    # The longest an undelivered event stays in memory only: then it fails and is spooled.
    "message.timeout.ms": 30_000,
    # Find a restarted broker within a second rather than librdkafka's 10 s backoff ceiling.
    "reconnect.backoff.max.ms": 1_000,
}

# Errors that sending again cannot fix: such events are counted as failed, never spooled.
_REFUSED = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.POLICY_VIOLATION,
        KafkaError.INVALID_REQUIRED_ACKS,
        KafkaError._INVALID_ARG,
    }
)

_REPLAY_WINDOW = 50_000  # replayed records librdkafka may hold at once
_PROBE_TIMEOUT_S = 2.0
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.25, 2.0
_POLL_S = 0.1
_HOUSEKEEPING_S = 1.0  # checkpoint and fsync
_ADOPT_EVERY_S = 30.0
_SPILL_WAIT_S = 5.0
_STALL_S = 1.0  # no delivery for this long, and a full queue goes to the spool
EXIT_TIMEOUT_S = 10.0  # what close() gets when the interpreter exits with the producer open

# States of a replayed record; from _DELIVERED on, it is settled and can be acknowledged.
_PENDING, _FAILED, _DELIVERED, _DROPPED = 0, 1, 2, 3


class _Replay:
    """One replayed record on its way to Kafka."""

    __slots__ = ("end", "state")

    def __init__(self, end: Position, state: int = _PENDING) -> None:
        self.end = end
        self.state = state


def _describe(err: KafkaError, topic: str | None) -> str:
    return f"{err.name()}: {err.str()} (topic {topic})"


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
        # librdkafka's own log lines (transient retries while a broker starts, say) go
        # through Python logging instead of straight to stderr of the observed service.
        conf.setdefault("logger", logging.getLogger("collector.kafka"))
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
        self._spool: Spool | None = None
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
        self._adopted: list[Spool] = []
        # Replay state: touched by the background thread only, except the flags noted.
        self._reserved: int | None = None  # set under _lock by whoever starts spooling
        self._source: Spool | None = None
        self._rpos = Position(0, 0)
        self._inflight: deque[_Replay] = deque()
        self._replaying = 0
        self._skip: dict[Position, int] = {}
        self._rewind = False
        self._probe_needed = True  # also set by threads that start spooling
        self._probe_at = 0.0
        self._backoff = _BACKOFF_MIN_S
        self._hold = False  # set by flush/close while they move memory to disk
        self._progress_at = 0.0  # when a delivery last succeeded
        self._fatal: KafkaError | None = None
        self._next_housekeeping = 0.0
        self._next_adopt = 0.0
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
        :class:`~collector.errors.SpoolFullError` when the spool is full, and
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
        if err.fatal():
            self._fatal = err
            log.error("The Kafka client hit a fatal error (%s); replacing it.", err.str())
        elif err.code() == KafkaError._ALL_BROKERS_DOWN and self._spool is not None:
            with self._lock:
                self._start_spooling("all brokers are down")
        else:
            # Connection trouble is retried by librdkafka; keep it quiet.
            log.debug("kafka client error: %s", err)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        spool = self._spool
        if spool is None or err.code() in _REFUSED:
            self._lose(1, _describe(err, msg.topic()))
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
                problem: str | None = f"spool write failed: {exc}; {_describe(err, msg.topic())}"
            else:
                problem = None
                self._count_spooled(1)
        if problem is not None:
            self._lose(1, problem)

    def _on_replayed(self, entry: _Replay, err: KafkaError | None, msg: Message) -> None:
        # Called once per replayed record: counters are added up in _advance_acks instead.
        self._replaying -= 1
        if err is None:
            entry.state = _DELIVERED
        elif err.code() in _REFUSED:
            entry.state = _DROPPED  # dropped from the spool: sending again cannot help
            self._lose(1, _describe(err, msg.topic()))
        else:
            entry.state = _FAILED
            self._rewind = True
            if self._source is self._spool:
                with self._lock:
                    self._start_spooling(f"a replayed event failed: {err.name()}")

    # -- the background thread -------------------------------------------------------------

    def _run(self) -> None:
        wait = _POLL_S
        delivered = 0
        while not self._stop.is_set():
            try:
                self._producer.poll(wait)
                if self.delivered != delivered:
                    delivered = self.delivered
                    self._progress_at = time.monotonic()
                wait = self._step()
            except Exception:
                # Nothing may take the host application down, this thread included.
                log.exception("Unexpected error in the lineage producer thread; carrying on")
                self._stop.wait(0.5)
                wait = _POLL_S
            with self._idle:
                self._idle.notify_all()

    def _step(self) -> float:
        if self._fatal is not None:
            self._replace_client()
        if self._spool is None:
            return _POLL_S
        self._advance_acks()
        wait = self._replay()
        now = time.monotonic()
        if now >= self._next_housekeeping:
            self._housekeeping(now)
        return wait

    def _replay(self) -> float:
        """Move the replay on by what can be done now; returns how long to poll next."""
        spool = self._spool
        assert spool is not None
        if self._closed:
            return _POLL_S
        if self._source is None:
            if not self._direct:
                self._source = spool
            elif self._adopted:
                self._source = self._adopted[0]
            else:
                return _POLL_S
            self._rpos = self._source.checkpoint
        source = self._source
        if self._rewind:
            if self._replaying:
                return _POLL_S
            self._rewind_to_checkpoint(source)
        if source is not spool and not self._direct:
            # Our own events are spooling: finish what is in flight, then turn to them.
            if not self._inflight:
                self._source = None
                self._skip.clear()
                return 0.0
            return _POLL_S
        if source is spool and self._reserved is not None:
            # Events librdkafka held when spooling began go first: wait until each one is
            # delivered or, failed, written to the reserved segment.
            if len(self._producer) > self._replaying:
                return _POLL_S
            with self._lock:
                spool.seal(self._reserved)
                self._reserved = None
        if self._hold:
            return _POLL_S
        if self._probe_needed:
            now = time.monotonic()
            if now < self._probe_at:
                return _POLL_S
            if not self._kafka_answers(source):
                self._probe_at = now + self._backoff
                self._backoff = min(self._backoff * 2, _BACKOFF_MAX_S)
                return _POLL_S
            self._probe_needed = False
            self._backoff = _BACKOFF_MIN_S
        self._produce_replays(source)
        self._finish(source)
        return _POLL_S

    def _kafka_answers(self, source: Spool) -> bool:
        head = source.read(self._rpos, max_records=1, max_bytes=0)
        try:
            # The head's topic keeps the request small; all topics when there is no head.
            self._producer.list_topics(head[0].topic if head else None, timeout=_PROBE_TIMEOUT_S)
        except KafkaException as exc:
            log.debug("Kafka does not answer yet: %s", exc)
            return False
        return True

    def _produce_replays(self, source: Spool) -> None:
        # The replay's hot loop: names bound locally, counters updated once per batch.
        produce = self._producer.produce
        on_replayed = self._on_replayed
        partial = functools.partial
        skip = self._skip
        enqueue = self._inflight.append
        while self._replaying < _REPLAY_WINDOW:
            records = source.read(self._rpos, max_records=_REPLAY_WINDOW - self._replaying)
            if not records:
                return
            produced = 0
            last = None
            try:
                for record in records:
                    end = record.end
                    entry = _Replay(end)
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
                            err = exc.args[0] if exc.args else None
                            if isinstance(err, KafkaError) and err.fatal():
                                return  # the client is replaced, then this record is retried
                            entry.state = _DROPPED
                            self._lose(1, f"{err or exc} (topic {record.topic})")
                        else:
                            produced += 1
                    enqueue(entry)
                    last = end
            except BufferError:
                return  # librdkafka is full; go on once deliveries free room
            finally:
                self._replaying += produced
                if last is not None:
                    self._rpos = last

    def _finish(self, source: Spool) -> None:
        spool = self._spool
        if source is spool:
            if not self._direct and not self._rewind and spool.caught_up(self._rpos):
                with self._lock:
                    # Checked again under the lock: no send can append in between.
                    if self._reserved is None and spool.caught_up(self._rpos):
                        self._direct = True
                        if self._spooled_now:
                            log.warning(
                                "Kafka takes events again; the %d spooled meanwhile are sent.",
                                self._spooled_now,
                            )
            if self._direct and not self._inflight:
                self._source = None
        elif not self._inflight and not self._rewind and source.caught_up(self._rpos):
            log.info("Replayed the events left in %s by a producer that stopped", source.path)
            source.close()
            self._adopted.remove(source)
            self._source = None

    def _advance_acks(self) -> None:
        inflight = self._inflight
        count = delivered = 0
        last = None
        while inflight and inflight[0].state >= _DELIVERED:
            entry = inflight.popleft()
            last = entry.end
            count += 1
            delivered += entry.state == _DELIVERED
        if last is not None and self._source is not None:
            self.delivered += delivered
            self.replayed += delivered
            self._source.ack(last, count)

    def _rewind_to_checkpoint(self, source: Spool) -> None:
        # Records delivered after the failed one are not sent again when the rewind
        # reaches them; the rest of the in-flight window is.
        self._skip = {e.end: e.state for e in self._inflight if e.state >= _DELIVERED}
        self._inflight.clear()
        self._rpos = source.checkpoint
        self._rewind = False
        self._probe_needed = True
        self._probe_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, _BACKOFF_MAX_S)

    def _replace_client(self) -> None:
        """After a fatal error: spool what the old client held, then start a new one."""
        self._fatal = None
        old = self._producer
        with self._lock:
            self._start_spooling("the Kafka client hit a fatal error")
        old.purge(in_queue=True, in_flight=True)
        deadline = time.monotonic() + _SPILL_WAIT_S
        while len(old) and time.monotonic() < deadline:
            old.poll(_POLL_S)
        if len(old):
            self._lose(len(old), "the Kafka client failed and did not give back its events")
        new = Producer(self._conf)
        with self._lock:
            self._producer = new

    def _housekeeping(self, now: float) -> None:
        self._next_housekeeping = now + _HOUSEKEEPING_S
        spool = self._spool
        assert spool is not None
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

    # -- flushing and closing --------------------------------------------------------------

    def _on_disk(self) -> int:
        if self._spool is None:
            return 0
        return sum(each.pending for each in (self._spool, *self._adopted))

    def _waiting(self) -> int:
        # len() counts queued callbacks too, not only events; the thread serves them quickly.
        in_memory = len(self._producer)
        # Replayed records are in memory and on disk at once; count them once.
        return self._on_disk() + (max(0, in_memory - self._replaying) if in_memory else 0)

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
                self._idle.wait(min(remaining, _POLL_S))

    def _drain(self, deadline: float) -> bool:
        """Serve delivery reports until librdkafka holds nothing (True) or ``deadline``."""
        with self._idle:
            while len(self._producer):
                if time.monotonic() >= deadline:
                    return False
                if self._thread.is_alive():
                    self._idle.wait(_POLL_S)
                else:
                    self._producer.poll(_POLL_S)
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

    def _take_lost(self) -> tuple[int, str | None]:
        with self._lock:
            lost, self._lost = self._lost, 0
            return lost, self.last_error

    def flush(self, timeout: float = 30.0) -> int:
        """Wait up to ``timeout`` s for Kafka to acknowledge everything, spool included.

        Returns how many events still wait, all of them in the spool (0: all delivered).
        Raises :class:`DeliveryError` if events were lost since the last flush (refused by
        Kafka, or not writable to the spool); without a spool also if any still wait.
        """
        waiting = self._wait_idle(time.monotonic() + timeout)
        if waiting and self._spool is not None:
            waiting = self._spill()
        lost, last = self._take_lost()
        if lost:
            raise DeliveryError(f"{lost} events were lost; last error: {last}")
        if waiting and self._spool is None:
            raise DeliveryError(
                f"{waiting} events still waiting for Kafka after {timeout:.0f}s; "
                "is the broker reachable? Check LINEAGE_KAFKA_BOOTSTRAP or `lineage status`."
            )
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
        self._thread.join(_PROBE_TIMEOUT_S + 5)
        if self._spool is not None:
            # The thread is gone: serve whatever delivery reports it left, here.
            if not self._drain(time.monotonic() + _SPILL_WAIT_S):
                stuck = len(self._producer) - self._replaying
                if stuck > 0:
                    self._lose(stuck, "the Kafka client kept them after closing")
            self._advance_acks()
            waiting = self._on_disk()
            for each in (self._spool, *self._adopted):
                each.close()
            if waiting:
                log.warning(
                    "%d lineage events wait in the spool folder %s; Kafka could not take them "
                    "before closing. The next producer started with this folder "
                    "(LINEAGE_SPOOL_DIR) sends them.",
                    waiting,
                    self._spool.path.parent,
                )
        lost, last = self._take_lost()
        if lost:
            raise DeliveryError(f"{lost} events were lost; last error: {last}")
        if waiting and self._spool is None:
            raise DeliveryError(
                f"{waiting} events still waiting for Kafka after {timeout:.0f}s; "
                "is the broker reachable? Check LINEAGE_KAFKA_BOOTSTRAP or `lineage status`."
            )

    def _close_at_exit(self) -> None:
        try:
            self.close(EXIT_TIMEOUT_S)
        except Exception as exc:
            log.error("Closing the lineage producer at exit: %s", exc)
