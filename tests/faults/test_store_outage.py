"""Scenario 4: ClickHouse goes away for longer than the retry window, then comes back."""

from __future__ import annotations

import subprocess
import time

from collector.config import Settings
from tests.conftest import WorkerProcess
from tests.faults.conftest import sized
from tests.faults.helpers import (
    committed,
    exactly_once,
    lag_is_zero,
    metric_total,
    wait_for_commits,
)
from tests.faults.workload import (
    counts,
    emit_training_runs,
    expected,
    log_predictions,
    wait_for_counts,
)

CAPPED = "store unavailable, retrying in 10.0s"  # the backoff at its ceiling


def test_scenario4_store_down_past_the_retry_window_no_commits_errors_counted_all_stored_after(
    settings: Settings, worker: WorkerProcess
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
    scraped = 0.0
    try:
        emit_training_runs(settings, before_events, before_events)
        log_predictions(settings, range(models))
        deadline = time.monotonic() + 60 + 15 * capped_waits
        while worker.log().count(CAPPED) < capped_waits:
            assert time.monotonic() < deadline, worker.log()[-5000:]
            if time.monotonic() > scraped + 2:
                retries.append(metric_total(settings, "lineage_clickhouse_retries_total"))
                errors.append(metric_total(settings, "lineage_clickhouse_errors_total"))
                scraped = time.monotonic()
            time.sleep(0.3)
        retries.append(metric_total(settings, "lineage_clickhouse_retries_total"))
        errors.append(metric_total(settings, "lineage_clickhouse_errors_total"))
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
