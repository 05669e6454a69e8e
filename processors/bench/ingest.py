"""``lineage bench``: throughput measured against the ceilings of the parts we build on.

Every figure comes from one run on one machine, so ratios between them mean something even on
a noisy host: ours against fastavro alone, and against the raw producer or consumer moving the
same bytes. ``bench ingest`` runs its own worker, through the code ``lineage up`` uses, on
topics, a consumer group and a store of its own, and removes them afterwards; it reports that
worker's CPU time per event and resident memory (:class:`WorkerWatch`). The steady-rate mode,
which measures freshness, is :mod:`lineage_processors.bench.freshness`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from lineage_collector import LineageClient
from lineage_collector.delivery.producer import DEFAULT_CONFIG
from lineage_collector.security import Secret
from lineage_processors.errors import ProcessorError, QueryError
from lineage_processors.local import worker as local_worker
from lineage_processors.settings import WorkerSettings
from lineage_processors.worker.topics import ensure_topics, topic_names


@dataclass
class BenchResult:
    """Named figures, printed in order."""

    title: str
    figures: list[tuple[str, str]] = field(default_factory=list)
    rate: float = 0.0  # the headline rate, events/s, where there is one

    def add(self, name: str, value: str) -> None:
        self.figures.append((name, value))

    def render(self) -> str:
        width = max(len(n) for n, _ in self.figures)
        lines = [self.title, "-" * len(self.title)]
        lines += [f"{n.ljust(width)}  {v}" for n, v in self.figures]
        return "\n".join(lines)


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "n/a"


def _sample_inference(i: int) -> dict[str, Any]:
    return {
        "inference_id": f"pred-{i}",
        "output": "billing" if i % 3 else "refund",
        "subject_id": f"customer-{i % 50_000}",
    }


def bench_sdk(
    settings: WorkerSettings, events: int, say: Callable[[str], None] = print
) -> BenchResult:
    """SDK inference logging into real Kafka, with the fastavro and raw-producer ceilings."""
    tag = uuid.uuid4().hex[:8]
    bench_settings = settings.replace(
        topic_inferences=f"bench.{tag}.inferences",
        topic_events=f"bench.{tag}.events",
        topic_openlineage=f"bench.{tag}.openlineage",
        topic_dlq=f"bench.{tag}.dlq",
        subject_key=settings.subject_key.reveal() or "bench-key-" + "0" * 32,
        spool_dir=settings.state_dir / "bench-spool" / tag,
    )
    bootstrap = settings.resolve_bootstrap()
    ensure_topics(bench_settings, bootstrap)
    result = BenchResult(f"SDK inference logging, {events:,} events")
    client = LineageClient.from_settings(bench_settings, namespace="bench")
    batch_schema = client.catalog.by_name("lineage.events.InferenceBatch")

    # Ceiling 1: fastavro encoding the same batches, nothing else.
    sample = [_sample_inference(i) for i in range(2000)]
    records = [
        {
            "inference_id": s["inference_id"],
            "event_time": 1_700_000_000_000 + i,
            "inputs": [],
            "output": s["output"],
            "subject": client.pseudonym(s["subject_id"]),
        }
        for i, s in enumerate(sample)
    ]
    batch = {
        "event_id": str(uuid.uuid4()),
        "event_time": 1_700_000_000_000,
        "producer": "b",
        "namespace": "bench",
        "model": "intent",
        "model_version": "3.4.2",
        "deployment": None,
        "inferences": records,
    }
    rounds = max(1, events // len(records))
    say(f"fastavro encode: {rounds} batches of {len(records)}")
    start = time.perf_counter()
    payloads = [client.encode(batch_schema, batch) for _ in range(rounds)]
    encode_s = time.perf_counter() - start
    result.add("fastavro encode ceiling", _rate(rounds * len(records), encode_s))

    # Ceiling 2: the raw producer sending those very bytes.
    raw = Producer({**DEFAULT_CONFIG, "bootstrap.servers": bootstrap})
    say("raw producer: same bytes, no SDK")
    start = time.perf_counter()
    for payload in payloads:
        while True:
            try:
                raw.produce(bench_settings.topic_inferences, payload, b"model:intent@3.4.2")
                break
            except BufferError:
                raw.poll(0.01)
        raw.poll(0)
    raw.flush(60)
    raw_s = time.perf_counter() - start
    result.add("raw producer ceiling", _rate(rounds * len(records), raw_s))

    # Ours: the inference logger, end to end into Kafka, timing the caller's side too.
    logger = client.inference_logger()
    say(f"SDK: logging {events:,} predictions")
    latencies = []
    start = time.perf_counter()
    for i in range(events):
        s = sample[i % len(sample)]
        if i % 64 == 0:
            t0 = time.perf_counter_ns()
            logger.log(
                f"p{i}",
                model="intent",
                model_version="3.4.2",
                output=s["output"],
                subject_id=s["subject_id"],
            )
            latencies.append(time.perf_counter_ns() - t0)
        else:
            logger.log(
                f"p{i}",
                model="intent",
                model_version="3.4.2",
                output=s["output"],
                subject_id=s["subject_id"],
            )
    accepted_s = time.perf_counter() - start
    logger.close(120)
    total_s = time.perf_counter() - start
    sdk_rate = events / total_s
    result.add("SDK, accepted by log()", _rate(events, accepted_s))
    result.add("SDK, acknowledged by Kafka", f"{sdk_rate:,.0f}/s")
    latencies.sort()
    result.add(
        "log() p50 / p99 / max",
        f"{statistics.median(latencies) / 1000:.1f} / "
        f"{latencies[int(len(latencies) * 0.99)] / 1000:.1f} / "
        f"{latencies[-1] / 1000:.1f} µs",
    )
    result.add("SDK / fastavro ceiling", f"{sdk_rate / (rounds * len(records) / encode_s):.2f}")
    result.add("SDK / raw producer ceiling", f"{sdk_rate / (rounds * len(records) / raw_s):.2f}")
    result.add("spooled, dropped", f"{client.producer.spooled}, {logger.dropped}")
    client.close()
    return result


# A backlog run gives up when the stored count stands still this long (a worker that lost
# Kafka keeps answering queries, so waiting for it would never end).
STALL_SECONDS = 120.0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WorkerWatch:
    """Resident memory and CPU time of a worker process, read from ``/proc`` while it works.

    Memory: ``steady`` is the median of the samples taken while events flow, ``peak`` the
    largest of them, ``high-water`` the kernel's mark since the process started (VmHWM, which
    includes start-up). Resident memory is anonymous (Python objects, ClickHouse's allocations)
    plus file-backed (mostly pages of chDB's 550 MB library in use); both are shown, with what
    ClickHouse's own memory tracker counts of the anonymous part.
    CPU: user and system time of the whole process (every thread, chDB's included) between
    :meth:`start` and :meth:`stop`, per event; on a shared machine it moves far less than a
    rate does, because time spent waiting for a core is not in it.
    """

    pid: int
    samples: list[tuple[int, int, int]] = field(default_factory=list)  # rss, anon, file (kB)
    peak_kb: int = 0
    engine: list[int] = field(default_factory=list)  # bytes ClickHouse itself accounts for
    cpu: list[float] = field(default_factory=list)  # process CPU seconds at start and stop

    ENGINE_SQL = "SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'"

    def _status(self) -> dict[str, int]:
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[name] = int(value.split()[0])
        return out

    def sample(self) -> None:
        status = self._status()
        if "VmRSS" in status:
            self.samples.append((status["VmRSS"], status["RssAnon"], status["RssFile"]))
            self.peak_kb = max(self.peak_kb, status["VmHWM"])

    def _cpu_seconds(self) -> float:
        # Fields 14 and 15 of /proc/PID/stat, after the command name in parentheses.
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        self.cpu = [self._cpu_seconds()]

    def stop(self) -> None:
        self.cpu.append(self._cpu_seconds())

    def report(self, result: BenchResult, events: int) -> None:
        if len(self.cpu) == 2 and events:
            used = self.cpu[1] - self.cpu[0]
            result.add("worker CPU per event", f"{used / events * 1e6:,.1f} µs ({used:.1f} s)")
        if not self.samples:
            result.add("worker resident memory", "n/a (no sample)")
            return
        rss, anon, file = (statistics.median(col) / 1024 for col in zip(*self.samples, strict=True))
        peak = max(sample[0] for sample in self.samples) / 1024
        engine = (
            f", ClickHouse tracking {statistics.median(self.engine) / 2**20:.0f} MB of it"
            if self.engine
            else ""
        )
        result.add(
            "worker resident memory",
            f"{rss:.0f} MB steady, {peak:.0f} MB peak, {self.peak_kb / 1024:.0f} MB high-water "
            f"(steady: {anon:.0f} MB anonymous{engine}; {file:.0f} MB file-backed)",
        )


def _graph_payloads(client: LineageClient, events: int) -> list[tuple[bytes, bytes, int]]:
    from lineage_collector import DatasetRef, TrainingRun

    schema = client.catalog.by_name("lineage.events.TrainingRun")
    out = []
    for i in range(events):
        run = TrainingRun(f"model-{i % 500}", f"1.{i}", [DatasetRef(f"ds-{i % 997}", "v1")])
        record = {**client.envelope(None, None), **run.fields()}
        out.append((run.key().encode(), client.encode(schema, record), 1))
    return out


def _inference_payloads(client: LineageClient, events: int) -> list[tuple[bytes, bytes, int]]:
    from lineage_collector.inference_codec import encode_batch_body

    schema = client.catalog.by_name("lineage.events.InferenceBatch")
    out, made, per = [], 0, 2000
    while made < events:
        n = min(per, events - made)
        model = f"model-{(made // per) % 8}"
        items = [
            (
                f"p{made + j}",
                1_700_000_000_000 + made + j,
                (),
                "billing",
                client.pseudonym(f"c{(made + j) % 50_000}"),
            )
            for j in range(n)
        ]
        body = encode_batch_body(
            str(uuid.uuid4()), items[-1][1], "bench", "bench", model, "1.0", None, items
        )
        out.append((f"model:{model}@1.0".encode(), client.frame(schema, body), n))
        made += n
    return out


@dataclass
class IngestRun:
    """A bench's own topics, consumer group, store and port, on the configured Kafka."""

    settings: WorkerSettings  # the bench's settings, Kafka bootstrap resolved
    kind: str  # "inferences" or "graph"
    client: LineageClient
    directory: Path

    @classmethod
    def create(cls, settings: WorkerSettings, kind: str) -> IngestRun:
        tag = uuid.uuid4().hex[:8]
        directory = (settings.state_dir / "bench" / tag).resolve()
        run = settings.replace(
            topic_events=f"bench.{tag}.events",
            topic_inferences=f"bench.{tag}.inferences",
            topic_openlineage=f"bench.{tag}.openlineage",
            topic_dlq=f"bench.{tag}.dlq",
            consumer_group=f"bench-{tag}",
            state_dir=directory,
            clickhouse_url="",
            worker_port=_free_port(),
            subject_key=settings.subject_key.reveal() or "bench-key-" + "0" * 32,
            kafka_bootstrap=settings.resolve_bootstrap(),
            log_level="WARNING",
        )
        ensure_topics(run, run.kafka_bootstrap)
        return cls(run, kind, LineageClient.from_settings(run, namespace="bench"), directory)

    @property
    def topic(self) -> str:
        return (
            self.settings.topic_inferences
            if self.kind == "inferences"
            else self.settings.topic_events
        )

    @property
    def table(self) -> str:
        """The table holding one row per event of this kind."""
        return "inferences" if self.kind == "inferences" else "events_raw"

    def start_worker(self) -> local_worker.WorkerStatus:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
        return local_worker.start(self.settings, {**env, **self.settings.to_env()})

    def check_worker(self) -> None:
        """Raise if the worker is gone: waiting on it would never end."""
        if not local_worker.status(self.settings).running:
            log = self.settings.worker_state_dir / "worker.log"
            raise ProcessorError(f"the bench's worker stopped; see {log}")

    def close(self, keep: bool = False) -> None:
        """Stop the worker and remove what the run left (its store and topics) unless ``keep``."""
        local_worker.stop(self.settings)
        self.client.close()
        if keep:
            return
        admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap})
        with contextlib.suppress(Exception):
            for future in admin.delete_topics(topic_names(self.settings)).values():
                future.result(10)
        shutil.rmtree(self.directory, ignore_errors=True)


# What an analyst might run during ingest: a scan of every stored prediction grouped by
# person, and a computation that runs into the read time limit.
HEAVY_READS = (
    "SELECT model_node, uniqExact(subject), count() FROM inferences GROUP BY model_node",
    "SELECT count(), uniqExact(subject, inference_id) FROM inferences",
    "SELECT sum(cityHash64(number)) FROM numbers(2e10)",
)


class ReadLoop:
    """Heavy reads sent one after another to a worker's ``/sql`` while it ingests."""

    def __init__(self, url: str, token: Secret) -> None:
        import threading

        from lineage_processors.answers.runner import EndpointRunner

        self.runner = EndpointRunner(url, timeout=120, token=token)
        self.answered = 0
        self.stopped = 0  # stopped by a limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heavy-reads", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            try:
                self.runner.run(HEAVY_READS[i % len(HEAVY_READS)])
                self.answered += 1
            except QueryError:
                self.stopped += 1
            i += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def auth_check_cost() -> float:
    """Seconds one request's token check takes: the header parsed, the token compared."""
    import timeit

    from lineage_processors.worker.auth import Access, Tokens, bearer

    tokens = Tokens(Secret("w" * 64), Secret("r" * 64))
    header = "Bearer " + "r" * 64
    calls = 200_000
    spent = timeit.timeit(lambda: tokens.allows(Access.READ, bearer(header)), number=calls)
    return spent / calls


# Partitions whose stored rows the derived-state steps have not yet covered.
DERIVED_BEHIND = """
    SELECT count() FROM (SELECT topic, partition, max(offset) AS stored FROM events_raw
                         GROUP BY topic, partition) AS s
    LEFT JOIN (SELECT topic, partition, max(offset) AS derived FROM derived_progress
               GROUP BY topic, partition) AS d ON d.topic = s.topic AND d.partition = s.partition
    WHERE d.topic = '' OR d.derived < s.stored
"""


def bench_ingest_with_reads(
    settings: WorkerSettings, events: int, kind: str, say: Callable[[str], None] = print
) -> BenchResult:
    """Ingest alone, then the same ingest with heavy reads sent to the worker all along:
    the rate kept, as a ratio measured in one run, and the worker's memory in each."""
    say("ingest alone")
    alone = bench_ingest(settings, events, kind, say)
    say("ingest with heavy reads")
    loaded = bench_ingest(settings, events, kind, say, reads=True)
    result = BenchResult(f"Ingest of {events:,} {kind} events, alone and beside heavy reads")
    for label, part in (("alone", alone), ("with reads", loaded)):
        for name, value in part.figures:
            result.add(f"{label}: {name}", value)
    ratio = loaded.rate / alone.rate if alone.rate else 0.0
    result.add("rate with reads / rate alone", f"{ratio:.2f} (goal >= 0.70)")
    result.add("token check per request", f"{auth_check_cost() * 1e6:.2f} µs")
    return result


def bench_ingest(
    settings: WorkerSettings,
    events: int,
    kind: str,
    say: Callable[[str], None] = print,
    *,
    reads: bool = False,
) -> BenchResult:
    """Events through real Kafka and a real worker into the store, until lag is zero;
    with ``reads``, heavy reads are sent to the worker all the while."""
    from confluent_kafka import Consumer

    from lineage_collector.wire import Decoder
    from lineage_processors.answers.runner import EndpointRunner

    run = IngestRun.create(settings, kind)
    loop: ReadLoop | None = None
    complete = False
    try:
        say(f"encoding {events:,} {kind} events")
        make = _inference_payloads if kind == "inferences" else _graph_payloads
        payloads = make(run.client, events)
        result = BenchResult(
            f"Ingest of {events:,} {kind} events ({len(payloads):,} Kafka records)"
        )

        # Ceiling 1: fastavro decoding the very records the worker will read.
        decoder = Decoder(run.client.catalog, millis=True)  # as the worker decodes
        start = time.perf_counter()
        for _, value, _n in payloads:
            decoder.decode(value)
        decode_rate = events / (time.perf_counter() - start)
        result.add("fastavro decode ceiling", f"{decode_rate:,.0f} events/s")

        bootstrap = run.settings.kafka_bootstrap
        say(f"producing {len(payloads):,} records to {run.topic}")
        raw = Producer({**DEFAULT_CONFIG, "bootstrap.servers": bootstrap})
        for key, value, _n in payloads:
            while True:
                try:
                    raw.produce(run.topic, value, key)
                    break
                except BufferError:
                    raw.poll(0.01)
        raw.flush(120)

        # Ceiling 2: a plain consumer reading the same bytes back from Kafka.
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"{run.settings.consumer_group}-raw",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([run.topic])
        seen, start = 0, 0.0
        while seen < len(payloads):
            asked = time.perf_counter()
            batch = consumer.consume(1000, timeout=5)
            if batch and not start:
                start = asked  # from the first fetch that returned data: joining is not reading
            seen += sum(1 for m in batch if m.error() is None)
        consume_s = time.perf_counter() - start
        consumer.close()
        consume_rate = events / consume_s
        result.add("raw Kafka consume ceiling", f"{consume_rate:,.0f} events/s")

        say("starting a worker on the backlog")
        worker = run.start_worker()
        assert worker.pid is not None
        watch = WorkerWatch(worker.pid)
        ready_at = time.perf_counter()
        query = EndpointRunner(worker.query_url, token=run.settings.read_token)
        loop = ReadLoop(worker.query_url, run.settings.read_token) if reads else None
        count, first_at, first_count, last_report = 0, 0.0, 0, 0.0
        moved_count, moved_at = 0, ready_at
        while count < events:
            answer = query.run(f"SELECT (SELECT count() FROM {run.table}), ({watch.ENGINE_SQL})")
            count, engine = (int(v) for v in answer.rows[0])
            now = time.perf_counter()
            if count != moved_count:
                moved_count, moved_at = count, now
            elif now - moved_at > STALL_SECONDS:
                log = run.settings.worker_state_dir / "worker.log"
                raise ProcessorError(
                    f"no event stored for {STALL_SECONDS:.0f} s ({count:,} of {events:,}): is "
                    f"Kafka still up? The run's store, topics and worker log ({log}) are kept"
                )
            if count and not first_at:
                first_at, first_count = now, count
                watch.start()
            if count:
                watch.sample()
                watch.engine.append(engine)
            if now - last_report > 2:
                run.check_worker()
                say(f"  {count:,} / {events:,} stored")
                last_report = now
            time.sleep(0.05)
        ingest_s = time.perf_counter() - first_at
        # Derived state (closures, attribution, tag impacts) follows the rows on its own
        # thread: the run is done when it has caught up with every stored offset too.
        derived_s = None
        if kind == "graph":
            while query.run(DERIVED_BEHIND).rows[0][0] != 0:
                run.check_worker()
                time.sleep(0.05)
            derived_s = time.perf_counter() - first_at
        watch.stop()
        complete = True
    finally:
        if loop is not None:
            loop.close()
        run.close(keep=not complete)
    note = ""
    if first_count >= events:
        # Everything landed before the first look: count from the worker being ready,
        # which includes joining the group, so this is a lower bound.
        rate, note = events / (first_at - ready_at), " (lower bound: run more events)"
    else:
        rate = (events - first_count) / ingest_s
    result.rate = rate
    result.add("end to end (Kafka -> worker -> ClickHouse)", f"{rate:,.0f} events/s{note}")
    if loop is not None:
        result.add("heavy reads meanwhile", f"{loop.answered} answered, {loop.stopped} stopped")
    if derived_s is not None:
        derived_rate = (events - first_count) / derived_s
        result.add(
            "end to end with derived state caught up",
            f"{derived_rate:,.0f} events/s ({derived_s - ingest_s:.1f} s after the last row)",
        )
    result.add("end to end / raw consume", f"{rate / consume_rate:.2f}")
    result.add("end to end / fastavro decode", f"{rate / decode_rate:.2f}")
    watch.report(result, events - first_count)
    return result
