"""Scenario 4: ClickHouse goes away for longer than the retry window, then comes back; and a
worker stopped while its store refuses writes stops in time, committing nothing unstored."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, isolated_settings
from tests.faults.conftest import sized
from tests.faults.helpers import (
    committed,
    exactly_once,
    lag_is_zero,
    metric_total,
    store_counts,
    wait_for_commits,
)
from tests.faults.workload import (
    counts,
    emit_training_runs,
    expected,
    log_predictions,
    wait_for_counts,
)

# A write the store refuses is tried again after 0.2 s, then twice as long each time up to
# 10 s (the ingest's RETRY_FIRST_SECONDS and RETRY_MAX_SECONDS): the 7th failed try of a
# batch is the first followed by a wait at the ceiling.
FIRST_CAPPED_TRY = 7
# Consumers retrying a batch while the store is away: events and inferences (the scenario
# sends nothing to the OpenLineage topic).
RETRYING = 2
RETRYING_SAYS = "store unavailable, retrying in"


def test_scenario4_store_down_past_the_retry_window_no_commits_errors_counted_all_stored_after(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    """Scenario 4. Pass: while the store refuses every write (its folder made immutable)
    for longer than the retry backoff takes to reach its 10 s ceiling, the worker commits
    no offset, stores nothing more, and the ClickHouse error and retry counts on /metrics
    keep rising; once the store takes writes again, every event is stored exactly once
    and the lag returns to zero."""
    before_events = sized(100, 1000)
    emit_training_runs(settings, 0, before_events)
    wait_for_counts(worker, expected(before_events, 0))
    topics = [settings.topic_events, settings.topic_inferences]
    before = wait_for_commits(settings, settings.topic_events)
    inference_offsets = committed(settings, settings.topic_inferences)
    store = settings.state_dir / "chdb" / "store"
    subprocess.run(["chattr", "-R", "+i", str(store)], check=True)
    # At the ceiling the worker waits 10 s between tries; the full run holds out longer.
    capped_waits = sized(1, 4)
    models = sized(3, 10)
    retries: list[float] = []
    errors: list[float] = []
    try:
        emit_training_runs(settings, before_events, before_events)
        log_predictions(settings, range(models))
        # The worker's log says each kind of complaint once a minute, so the tries are
        # counted on /metrics: with this many failed in all, one of the retrying consumers
        # has waited at the ceiling ``capped_waits`` times at least.
        tries = RETRYING * (FIRST_CAPPED_TRY - 1 + capped_waits)
        deadline = time.monotonic() + 60 + 15 * capped_waits
        while not retries or retries[-1] < tries:
            assert time.monotonic() < deadline, (retries, worker.log()[-5000:])
            time.sleep(0.5)
            retries.append(metric_total(settings, "lineage_clickhouse_retries_total"))
            errors.append(metric_total(settings, "lineage_clickhouse_errors_total"))
        assert RETRYING_SAYS in worker.log(), worker.log()[-5000:]
        assert committed(settings, settings.topic_events) == before
        assert committed(settings, settings.topic_inferences) == inference_offsets
        assert counts(worker)["raw"] == before_events
        assert worker.proc is not None and worker.proc.poll() is None
    finally:
        subprocess.run(["chattr", "-R", "-i", str(store)], check=True)
    # Rising while the store was away: each scrape saw more failed tries than the one before.
    assert retries == sorted(retries) and len(set(retries)) >= 3, retries
    assert errors == sorted(errors) and len(set(errors)) >= 3, errors
    outcome = exactly_once(
        "4 store down past the retry window", worker, 2 * before_events, models, faults=1
    )
    assert outcome.lost == outcome.duplicates == 0
    lag_is_zero(settings, topics)


def readiness(settings: WorkerSettings) -> tuple[int, dict[str, str]]:
    url = f"http://127.0.0.1:{settings.worker_port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sigterm_stops_a_worker_whose_store_refuses_writes_within_10s_committing_nothing_unstored(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """Pass: while the store refuses every write (its folder made immutable) and the worker
    retries a batch with backoff, /readyz answers 503 naming the failing writes once they
    have failed for LINEAGE_READY_WRITE_FAILURE_SECONDS; SIGTERM then ends the worker
    (status 0) within 10 s, with no offset committed past what it stored; and a worker
    started after it stores every event exactly once, the lag back to zero."""
    settings = isolated_settings(tmp_path / "state", kafka_bootstrap).replace(
        ready_write_failure_seconds=2.0
    )
    worker = WorkerProcess(settings).start()
    events = sized(50, 500)
    emit_training_runs(settings, 0, events)
    wait_for_counts(worker, expected(events, 0))
    topics = [settings.topic_events, settings.topic_inferences]
    before = wait_for_commits(settings, settings.topic_events)
    inference_offsets = committed(settings, settings.topic_inferences)
    store = settings.state_dir / "chdb" / "store"
    subprocess.run(["chattr", "-R", "+i", str(store)], check=True)
    try:
        emit_training_runs(settings, events, events)
        log_predictions(settings, range(2))
        deadline = time.monotonic() + 90
        status, ready = readiness(settings)
        while not ready.get("clickhouse_writes", "ok").startswith("writes of"):
            assert time.monotonic() < deadline, (status, ready, worker.log()[-5000:])
            time.sleep(0.3)
            status, ready = readiness(settings)
        assert status == 503 and ready["status"] == "not ready", ready
        assert "LINEAGE_READY_WRITE_FAILURE_SECONDS=2" in ready["clickhouse_writes"], ready
        assert worker.proc is not None
        signalled = time.monotonic()
        stop_by = signalled + 10
        worker.proc.send_signal(signal.SIGTERM)
        code = worker.proc.wait(60)
        stopped = time.monotonic()
        print(f"SIGTERM to exit: {stopped - signalled:.1f}s")
        assert stopped < stop_by, f"{stopped - signalled:.1f}s\n{worker.log()[-5000:]}"
        assert code == 0, worker.log()[-5000:]
        assert committed(settings, settings.topic_events) == before
        assert committed(settings, settings.topic_inferences) == inference_offsets
    finally:
        subprocess.run(["chattr", "-R", "-i", str(store)], check=True)
    # Nothing stored past what was committed either: the store as the worker left it.
    assert store_counts(settings, "SELECT count() FROM events_raw") == [[events]]
    again = WorkerProcess(settings).start()
    try:
        outcome = exactly_once("SIGTERM while the store refuses writes", again, 2 * events, 2, 1)
        lag_is_zero(settings, topics)
    finally:
        again.stop()
    assert outcome.lost == outcome.duplicates == 0
