"""Scenarios 1-3: the worker dies (SIGKILL, SIGTERM) at the worst moments while events
flow; every event is stored exactly once in the end, and the group's lag returns to zero."""

from __future__ import annotations

import random
import signal
import time

from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess
from tests.faults.conftest import sized
from tests.faults.helpers import (
    exactly_once,
    kill,
    kill_inside_an_insert,
    lag_is_zero,
    run_until_killed,
)
from tests.faults.workload import Flow, emit_training_runs, log_predictions


def test_scenario1_killed_after_insert_before_commit_repeatedly_under_load_exactly_once(
    settings: WorkerSettings,
) -> None:
    """Scenario 1. Pass: while events keep flowing, worker after worker kills itself right
    after a ClickHouse insert and before its offset commit (LINEAGE_FAULT_KILL_AFTER_STORE,
    at a random batch, each worker with another batch size so that replays are cut
    elsewhere); afterwards a worker that finds those records stored already stores every
    produced event_id exactly once, raw and FINAL, and the lag is zero."""
    rnd = random.Random(1)
    log = settings.state_dir / "killed.log"
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    kills = sized(2, 10)
    flow = Flow(settings)
    try:
        for _ in range(kills):
            crashed = settings.replace(
                batch_size=rnd.choice((300, 1000, 1500, 2000)),
                fault_kill_after_store=rnd.randint(1, 3),
            )
            assert run_until_killed(crashed, log, timeout=120) == -signal.SIGKILL
    finally:
        events, models = flow.stop()
    assert log.read_text().count("killing the worker before its commit") == kills
    worker = WorkerProcess(settings.replace(batch_size=700)).start()
    try:
        exactly_once("1 kill after insert", worker, events, models, kills)
        lag_is_zero(settings, [settings.topic_events, settings.topic_inferences])
        assert "stored already" in worker.log(), worker.log()[-3000:]
    finally:
        worker.stop()


def test_scenario2_killed_inside_inserts_loses_and_duplicates_nothing(
    settings: WorkerSettings,
) -> None:
    """Scenario 2. Pass: while a backlog is written, worker after worker is SIGKILLed the
    moment ClickHouse is seen writing a new part (inside an insert); a last worker then
    stores every event exactly once, raw and FINAL."""
    events, models = sized(4000, 20000), sized(20, 60)
    emit_training_runs(settings, 0, events)
    log_predictions(settings, range(models))
    settings = settings.replace(batch_size=5000)
    store_dir = settings.state_dir / "chdb"
    kills = 0
    for _ in range(sized(2, 12)):
        worker = WorkerProcess(settings).start()
        assert kill_inside_an_insert(worker, store_dir), worker.log()[-3000:]
        kills += 1
    worker = WorkerProcess(settings).start()
    try:
        exactly_once("2 kill inside an insert", worker, events, models, kills)
    finally:
        worker.stop()


def test_scenario3_restart_storm_with_chdb_loses_and_duplicates_nothing_lag_returns_to_zero(
    settings: WorkerSettings,
) -> None:
    """Scenario 3 (with chDB, one process per store, a rebalance is a restart): while
    events flow, workers are started and stopped in a storm, half of them by SIGTERM mid
    batch (a clean leave of the group), half by SIGKILL; every event ends up stored
    exactly once and the group's lag returns to zero."""
    rnd = random.Random(3)
    settings = settings.replace(batch_size=2000)
    restarts = sized(2, 20)  # half SIGTERM, half SIGKILL
    flow = Flow(settings)
    try:
        for i in range(restarts):
            worker = WorkerProcess(settings).start()
            time.sleep(rnd.uniform(0.2, 1.5))
            if i % 2:
                kill(worker)
            else:
                worker.stop()
    finally:
        events, models = flow.stop()
    worker = WorkerProcess(settings).start()
    try:
        exactly_once("3 restart storm", worker, events, models, restarts)
        lag_is_zero(settings, [settings.topic_events, settings.topic_inferences])
    finally:
        worker.stop()
