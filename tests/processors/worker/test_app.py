"""The worker's wiring: a processor and a consumer per topic, each with its paths; the worker's
own statements run on one thread each; people's reads on their own limit."""

from __future__ import annotations

from pathlib import Path

from lineage_processors.answers.runner import StoreRunner
from lineage_processors.ingest.fast.paths import FastGraphPath, FastInferencePath
from lineage_processors.ingest.reference.path import ReferenceMapping
from lineage_processors.settings import WorkerSettings
from lineage_processors.store.connect import WORKER_SESSION, Store
from lineage_processors.store.reads import ReadLimits, ReadPool
from lineage_processors.worker.app import build_worker
from tests.conftest import WorkerProcess

THREADS = "SELECT getSetting('max_threads')"


def threads(store: Store) -> int:
    return int(store.query(THREADS).result_rows[0][0])


def test_worker_session_settings_hold_for_every_statement_but_peoples_queries(
    store: Store,
) -> None:
    default = threads(store)
    store.configure(WORKER_SESSION)
    assert threads(store) == 1
    store.command("SELECT 1")
    assert threads(store) == 1
    runner = StoreRunner(store, ReadLimits(threads=3))
    try:
        assert runner.run(THREADS).rows == [[3]]
    finally:
        runner.close()
    assert threads(store) == 1  # a read's session is not the writer's
    # Another session of the store starts from the engine's defaults.
    other = store.session()
    try:
        assert threads(other) == default
    finally:
        other.close()


def test_a_query_sent_to_the_worker_runs_with_the_read_thread_limit(
    worker: WorkerProcess,
) -> None:
    assert worker.query(THREADS).rows == [[worker.settings.read_max_threads]]


def test_each_topic_has_its_processor_paths_and_consumer(store: Store, tmp_path: Path) -> None:
    settings = WorkerSettings(state_dir=tmp_path / "state", batch_size=20_000, max_event_bytes=999)
    derived = store.session()
    reads = ReadPool(store.session, store.session(), ReadLimits(), 1)
    worker = build_worker(settings, store, derived, reads, "127.0.0.1:9")
    try:
        events, inferences, ol = (
            settings.topic_events,
            settings.topic_inferences,
            settings.topic_openlineage,
        )
        procs = worker.processors
        assert list(procs) == [events, inferences, ol]
        assert isinstance(procs[events].fast, FastGraphPath)
        assert isinstance(procs[inferences].fast, FastInferencePath)
        assert procs[ol].fast is None
        limits = {t: p.reference.max_bytes for t, p in procs.items()}
        assert all(isinstance(p.reference, ReferenceMapping) for p in procs.values())
        assert limits == {events: 999, inferences: 999, ol: settings.ingest_max_bytes}
        # Derived state follows the graph topics; predictions are attributed as inserted.
        stored = worker.deriving.derivation.stored
        assert [p.on_stored == stored for p in procs.values()] == [True, False, True]
        assert [
            (c.topic, c.client_id, c.max_records, c.handler is procs[c.topic])
            for c in worker.consumers.consumers
        ] == [
            (events, "lineage-worker-graph", 2000, True),
            (inferences, "lineage-worker-inferences", 10, True),
            (ol, "lineage-worker-openlineage", 2000, True),
        ]
    finally:
        worker.release_threads()
        reads.close()
        derived.close()
