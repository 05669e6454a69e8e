"""``lineage bench ingest --rate R``: how long an event takes to become queryable, at a steady rate.

Method. A worker starts on empty topics and a few warm-up events are stored first, so joining
the consumer group is not counted. Then every ``TICK`` seconds the producer sends the events
due by then (``rate * elapsed``), all stamped with one event time: the wall-clock millisecond
at which they are handed to the producer (the SDK's own 20 ms linger is part of what is
measured). Graph events are encoded before the clock starts and only stamped with their time
when sent, so the bench's own Python spares the worker's cores. Meanwhile a poller asks the
worker's read-only ``/sql`` endpoint every ``POLL`` seconds how many rows of each event time
the store holds::

    SELECT toUnixTimestamp64Milli(event_time), count() FROM <table>
    WHERE event_time >= <oldest event time not yet wholly stored> GROUP BY 1

Rows of an event time that a poll finds for the first time became queryable at the latest when
that poll's answer arrived: their latency is that moment minus their event time. Each latency
is thus an upper bound, too high by at most one poll interval plus the query's own time
(reported as "poll interval, query"). The poll runs on the worker's store thread like its
inserts, so it also sees exactly what the worker has committed to the store. Percentiles are
over events, not ticks. After the producer stops, polling goes on until every event is stored
or ``DRAIN_SECONDS`` pass; events never seen are reported.

Event times and poll answers are read from the same clock (``time.time()`` on this machine).
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Producer

from lineage_collector import LineageClient
from lineage_collector.delivery import DEFAULT_CONFIG
from lineage_collector.inference_codec import long_bytes
from lineage_collector.security import Secret
from lineage_processors.answers.runner import EndpointRunner
from lineage_processors.bench.ingest_run import IngestRun
from lineage_processors.bench.result import BenchResult
from lineage_processors.bench.watch import WorkerWatch
from lineage_processors.ingest.fast.inference import read_long
from lineage_processors.settings import WorkerSettings

TICK = 0.02  # seconds between sends: fine enough that a tick's events share a moment
POLL = 0.05  # seconds between looks at the store
WARMUP_EVENTS = 10
DRAIN_SECONDS = 60.0  # longest wait for the last events once the producer stopped
INFERENCE_RECORD = 2000  # predictions per InferenceBatch record, as the SDK's logger sends


@dataclass
class _Prepared:
    """An encoded event and where its event time sits in it."""

    index: int
    key: bytes
    value: bytes
    time_at: int
    time_end: int

    def at(self, millis: int) -> tuple[bytes, bytes] | None:
        """The event with event time ``millis``; None if that takes more or fewer bytes
        than the time it was encoded with (the varint grows a byte in 2039)."""
        stamp = long_bytes(millis)
        if len(stamp) != self.time_end - self.time_at:
            return None
        return self.key, b"".join((self.value[: self.time_at], stamp, self.value[self.time_end :]))

    def stamped(self) -> tuple[bytes, bytes]:
        """The event with the time it was encoded with."""
        return self.key, self.value


class _Events:
    """Encodes ``n`` events of one kind, all with event time ``millis``.

    Encoding a graph event costs the bench about 50 µs of Python (the event, its envelope,
    fastavro), half a core at 10,000/s on the machine the worker runs on, and that is no
    part of what is measured. So graph events are encoded ahead (:meth:`prepare`) and, when
    sent, only their event time is written in, in place of the one they were encoded with.
    """

    def __init__(self, client: LineageClient, kind: str) -> None:
        self.client = client
        self.kind = kind
        self.tag = uuid.uuid4().hex[:8]
        self.made = 0
        # A pseudonym costs an HMAC: a fixed pool of people is enough for the store.
        self.subjects = [client.pseudonym(f"c{i}") for i in range(1000)]
        name = "InferenceBatch" if kind == "inferences" else "TrainingRun"
        self.schema = client.catalog.by_name(f"lineage.events.{name}")
        self.prepared: list[_Prepared] = []

    def prepare(self, n: int) -> None:
        """Encode the next ``n`` graph events ahead, for :meth:`make`."""
        if self.kind != "inferences":
            first = self.made + len(self.prepared)
            now = int(time.time() * 1000)
            self.prepared += (self._graph_event(i, now) for i in range(first, first + n))

    def make(self, n: int, millis: int) -> list[tuple[bytes, bytes]]:
        if self.kind == "inferences":
            out = self._inferences(n, millis)
        else:
            ready, self.prepared = self.prepared[:n], self.prepared[n:]
            out = [e.at(millis) or self._graph_event(e.index, millis).stamped() for e in ready]
            # Past what was prepared, encoded now, with their time.
            first = self.made + len(ready)
            out += (self._graph_event(i, millis).stamped() for i in range(first, self.made + n))
        self.made += n
        return out

    def _graph_event(self, i: int, millis: int) -> _Prepared:
        import io

        from fastavro import schemaless_writer

        from lineage_collector import DatasetRef, TrainingRun

        datasets = [DatasetRef(f"ds-{i % 997}", "v1")]
        run = TrainingRun(f"model-{i % 500}", f"{self.tag}.{i}", datasets)
        record = {**self.client.envelope(None, None), **run.fields(), "event_time": millis}
        body = io.BytesIO()
        # The schema that leaves timestamps as epoch milliseconds: the event time goes on the
        # wire as it is, with no round trip through a datetime.
        schemaless_writer(body, self.schema.parsed_millis, record)
        value = self.client.frame(self.schema, body.getvalue())
        # Every event starts with event_id, then event_time.
        header = len(value) - body.tell()
        size, at = read_long(value, header)
        _, end = read_long(value, at + size)
        return _Prepared(i, run.key().encode(), value, at + size, end)

    def _inferences(self, n: int, millis: int) -> list[tuple[bytes, bytes]]:
        from lineage_collector.inference_codec import encode_batch_body

        out = []
        for first in range(self.made, self.made + n, INFERENCE_RECORD):
            last = min(first + INFERENCE_RECORD, self.made + n)
            model = f"model-{(first // INFERENCE_RECORD) % 8}"
            items = [
                (f"f{self.tag}-{i}", millis, (), "billing", self.subjects[i % 1000])
                for i in range(first, last)
            ]
            body = encode_batch_body(
                str(uuid.uuid4()), millis, "bench", "bench", model, "1.0", None, items
            )
            out.append((f"model:{model}@1.0".encode(), self.client.frame(self.schema, body)))
        return out


@dataclass
class _Ledger:
    """Events sent per event time, and what the store has shown of them so far."""

    sent: dict[int, int] = field(default_factory=dict)  # event time (ms) -> events
    order: list[int] = field(default_factory=list)  # event times in the order sent
    seen: dict[int, int] = field(default_factory=dict)  # event time -> rows found
    frontier: int = 0  # index in order of the oldest event time not wholly stored
    latencies: list[tuple[float, int]] = field(default_factory=list)  # (seconds, events)

    def add_sent(self, millis: int, n: int) -> None:
        if millis not in self.sent:
            self.order.append(millis)
            self.sent[millis] = 0
        self.sent[millis] += n

    def oldest_open(self) -> int | None:
        """The oldest event time with events still missing from the store."""
        while self.frontier < len(self.order):
            millis = self.order[self.frontier]
            if self.seen.get(millis, 0) < self.sent[millis]:
                return millis
            self.frontier += 1
        return None

    def observe(self, rows: list[list[int]], answered: float) -> None:
        for millis, count in rows:
            millis, count = int(millis), int(count)
            new = min(count, self.sent.get(millis, 0)) - self.seen.get(millis, 0)
            if new > 0:
                self.latencies.append((answered - millis / 1000, new))
                self.seen[millis] = self.seen.get(millis, 0) + new

    @property
    def stored(self) -> int:
        return sum(self.seen.values())

    def percentile(self, q: float) -> float:
        """The latency below which a fraction ``q`` of the stored events became queryable."""
        ranked = sorted(self.latencies)
        total = sum(n for _, n in ranked)
        cut = q * total
        for seconds, running in zip(
            (s for s, _ in ranked), itertools.accumulate(n for _, n in ranked), strict=True
        ):
            if running >= cut:
                return seconds
        return ranked[-1][0]


class _Poller(threading.Thread):
    """Looks at the store every POLL seconds and tells the ledger what became queryable."""

    def __init__(
        self, url: str, token: Secret, table: str, ledger: _Ledger, watch: WorkerWatch
    ) -> None:
        super().__init__(name="bench-poller", daemon=True)
        self.query = EndpointRunner(url, token=token)
        self.table = table
        self.ledger = ledger
        self.watch = watch
        self.lock = threading.Lock()  # the producer adds to the ledger while we read it
        self.done = threading.Event()
        self.query_seconds: list[float] = []
        self.looks = 0
        self.error: Exception | None = None

    def look(self) -> None:
        with self.lock:
            since = self.ledger.oldest_open()
        if since is None:
            return
        asked = time.time()
        rows = self.query.run(
            f"SELECT toUnixTimestamp64Milli(event_time) AS t, count() FROM {self.table} "
            f"WHERE event_time >= fromUnixTimestamp64Milli({since}) GROUP BY t"
        ).rows
        answered = time.time()
        self.query_seconds.append(answered - asked)
        with self.lock:
            self.ledger.observe(rows, answered)
        self.looks += 1
        if self.looks % 10 == 0:  # memory changes slowly: spare the store most of these
            self.watch.sample()
            self.watch.engine.append(int(self.query.run(WorkerWatch.ENGINE_SQL).rows[0][0]))

    def run(self) -> None:
        try:
            while not self.done.is_set():
                started = time.monotonic()
                self.look()
                self.done.wait(max(0.0, started + POLL - time.monotonic()))
        except Exception as exc:  # handed to the bench, which reports it
            self.error = exc


def _send(producer: Producer, topic: str, payloads: list[tuple[bytes, bytes]]) -> None:
    for key, value in payloads:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.005)
    producer.poll(0)


def bench_freshness(
    settings: WorkerSettings,
    kind: str,
    rate: int,
    seconds: float,
    say: Callable[[str], None] = print,
) -> BenchResult:
    """Events at ``rate`` per second for ``seconds``; event time to queryable, per event."""
    run = IngestRun.create(settings, kind)
    complete = False
    try:
        events = _Events(run.client, kind)
        if kind != "inferences":
            total = WARMUP_EVENTS + round(rate * seconds)
            say(f"encoding {total:,} graph events ahead")
            events.prepare(total)
        producer = Producer({**DEFAULT_CONFIG, "bootstrap.servers": run.settings.kafka_bootstrap})
        say("starting a worker on empty topics")
        worker = run.start_worker()
        assert worker.pid is not None
        watch = WorkerWatch(worker.pid)
        ledger = _Ledger()
        poller = _Poller(worker.query_url, run.settings.read_token, run.table, ledger, watch)

        # Warm-up: the consumers have joined and a batch went through before the clock starts.
        warm = int(time.time() * 1000)
        _send(producer, run.topic, events.make(WARMUP_EVENTS, warm))
        producer.flush(30)
        ledger.add_sent(warm, WARMUP_EVENTS)
        deadline = time.monotonic() + 60
        while ledger.oldest_open() is not None:
            run.check_worker()
            if time.monotonic() > deadline:
                raise TimeoutError("the warm-up events were not stored within 60 s")
            poller.look()
            time.sleep(POLL)
        ledger = poller.ledger = _Ledger()
        watch.samples.clear()
        watch.engine.clear()

        say(f"sending {rate:,} {kind} events/s for {seconds:g} s")
        poller.start()
        watch.start()
        ticks = max(1, round(seconds / TICK))
        start = time.monotonic()
        sent = 0
        for k in range(1, ticks + 1):
            time.sleep(max(0.0, start + k * TICK - time.monotonic()))
            due = round(rate * k * TICK) - sent
            if due <= 0:
                continue
            millis = int(time.time() * 1000)
            payloads = events.make(due, millis)
            with poller.lock:
                ledger.add_sent(millis, due)
            _send(producer, run.topic, payloads)
            sent += due
        send_s = time.monotonic() - start
        producer.flush(60)
        say(f"  sent {sent:,}; waiting for the store to show them all")
        drain = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < drain and poller.is_alive():
            with poller.lock:
                if ledger.oldest_open() is None:
                    break
            run.check_worker()
            time.sleep(POLL)
        watch.stop()
        poller.done.set()
        poller.join(10)
        if poller.error is not None:
            raise poller.error
        complete = ledger.stored == sent
    finally:
        # A run that lost events keeps its store, topics and worker log to look into.
        run.close(keep=not complete)

    result = BenchResult(f"Freshness of {kind} events at {rate:,}/s for {seconds:g} s")
    result.add("sent", f"{sent:,} events, {sent / send_s:,.0f}/s (asked {rate:,}/s)")
    result.add("stored", f"{ledger.stored:,} of {sent:,}")
    if not complete:
        result.add("kept for a look", str(run.directory))
    if ledger.latencies:
        p50, p95, p99 = (ledger.percentile(q) for q in (0.50, 0.95, 0.99))
        worst = max(s for s, _ in ledger.latencies)
        result.add(
            "event time -> queryable p50 / p95 / p99 / max",
            f"{p50 * 1000:,.0f} / {p95 * 1000:,.0f} / {p99 * 1000:,.0f} / {worst * 1000:,.0f} ms",
        )
    median_query = statistics.median(poller.query_seconds) if poller.query_seconds else 0.0
    result.add(
        "poll interval, query (median)",
        f"{POLL * 1000:.0f} ms, {median_query * 1000:.0f} ms (latencies are upper bounds by these)",
    )
    watch.report(result, ledger.stored)
    return result
