"""``lineage bench ingest``: a backlog through real Kafka and a real worker into the store.

Every figure comes from one run on one machine, so ratios between them mean something even on
a noisy host: ours against fastavro decoding the same records alone, and against a plain
consumer reading the same bytes back from Kafka. The run has its own worker, started through
the code ``lineage up`` uses, on topics, a consumer group and a store of its own
(:class:`~lineage_processors.bench.ingest_run.IngestRun`), removed afterwards; it reports that
worker's CPU time per event and resident memory
(:class:`~lineage_processors.bench.watch.WorkerWatch`). The steady-rate mode, which measures
freshness, is :mod:`lineage_processors.bench.freshness`; the SDK's bench is
:mod:`lineage_processors.bench.sdk`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, Producer

from lineage_collector import DatasetRef, LineageClient, TrainingRun
from lineage_collector.delivery import DEFAULT_CONFIG
from lineage_collector.inference_codec import encode_batch_body
from lineage_collector.wire import Decoder
from lineage_processors.answers.runner import EndpointRunner
from lineage_processors.bench.ingest_run import IngestRun
from lineage_processors.bench.reads import ReadLoop, auth_check_cost
from lineage_processors.bench.result import BenchResult
from lineage_processors.bench.watch import WorkerWatch
from lineage_processors.errors import ProcessorError
from lineage_processors.settings import WorkerSettings

# A backlog run gives up when the stored count stands still this long (a worker that lost
# Kafka keeps answering queries, so waiting for it would never end).
STALL_SECONDS = 120.0


def _graph_payloads(client: LineageClient, events: int) -> list[tuple[bytes, bytes, int]]:
    schema = client.catalog.by_name("lineage.events.TrainingRun")
    out = []
    for i in range(events):
        run = TrainingRun(f"model-{i % 500}", f"1.{i}", [DatasetRef(f"ds-{i % 997}", "v1")])
        record = {**client.envelope(None, None), **run.fields()}
        out.append((run.key().encode(), client.encode(schema, record), 1))
    return out


def _inference_payloads(client: LineageClient, events: int) -> list[tuple[bytes, bytes, int]]:
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
