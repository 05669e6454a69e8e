"""The worker's own statements run on one thread each; people's reads on their own limit."""

from __future__ import annotations

from lineage_processors.answers.runner import StoreRunner
from lineage_processors.store.connect import WORKER_SESSION, Store
from lineage_processors.store.reads import ReadLimits
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
