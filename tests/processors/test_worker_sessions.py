"""The worker's own statements run on one thread each; queries people send it do not."""

from __future__ import annotations

from processors.query_runner import run_on_store
from processors.store.connect import PEOPLE_ON_WORKER, WORKER_SESSION, Store
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
    asked = run_on_store(store, THREADS, settings=PEOPLE_ON_WORKER)
    assert asked.rows == [[default]]
    assert threads(store) == 1  # a query's own settings end with it
    # Another session of the store starts from the engine's defaults.
    other = store.session()
    try:
        assert threads(other) == default
    finally:
        other.close()


def test_a_query_sent_to_the_worker_runs_with_the_engines_threads(
    store: Store, worker: WorkerProcess
) -> None:
    assert worker.query(THREADS).rows == [[threads(store)]]
