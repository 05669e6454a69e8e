"""Scenario 11: the broker SIGKILLed and restarted over and over while a worker measures its
lag every second; the worker stays the same process throughout.

Before, a lag measurement that timed out while Kafka came back escaped its timer and ended
the whole worker. The broker is this module's own (``own_kafka``): it keeps its ports
across restarts, so the SDK and the worker find it again at the same address.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from lineage_processors.local.kafka import LocalKafka
from tests.conftest import WorkerProcess, broker_up, isolated_settings
from tests.faults.conftest import sized
from tests.faults.helpers import (
    broker_pid,
    exactly_once,
    lag_is_zero,
    metric_total,
    service_client,
    wait_until,
)
from tests.faults.workload import Emitter


def test_scenario11_the_worker_outlives_five_broker_sigkills_measuring_its_lag_throughout(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    """Scenario 11. Pass: while a service emits through the SDK and a worker stores, the
    broker is SIGKILLed and restarted five times (eight at full size). The worker's lag
    timer, every second, fails while Kafka is away (counted on
    lineage_background_errors_total) and measures again once it is back; no background task
    ends the worker, which is the same process throughout. Every event the SDK accepted is
    stored exactly once and the lag returns to zero, on the group's committed offsets and
    on the worker's own gauge."""
    settings = isolated_settings(tmp_path / "state", broker_up(own_kafka)).replace(lag_interval=1.0)
    worker = WorkerProcess(settings).start()
    assert worker.proc is not None
    pid = worker.proc.pid
    sdk = service_client(settings)
    emitter = Emitter(sdk, pause=0.2)
    kills = sized(5, 8)

    def alive() -> None:
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-5000:]

    def failures() -> float:
        return metric_total(settings, "lineage_background_errors_total")

    def measured() -> float:
        return metric_total(settings, "lineage_consumer_lag_measured_timestamp_seconds")

    try:
        try:
            for _ in range(kills):
                failed, spooled = failures(), sdk.producer.spooled
                os.kill(broker_pid(own_kafka), signal.SIGKILL)
                wait_until(lambda: not own_kafka.status().running, 30, "the broker did not die")
                # Kafka is gone: what is emitted now can only go to the spool, and the lag
                # cannot be measured.
                wait_until(
                    lambda before=spooled: sdk.producer.spooled > before + 100,
                    60,
                    "nothing was spooled",
                )
                wait_until(
                    lambda before=failed: failures() > before,
                    60,
                    "the lag timer did not fail while Kafka was away",
                )
                alive()
                back = time.time()
                broker_up(own_kafka)
                wait_until(lambda since=back: measured() > since, 60, "lag not measured again")
                alive()
        finally:
            events, models = emitter.stop()
        assert sdk.flush(120) == 0
        sdk.close()
        outcome = exactly_once("11 broker SIGKILLed, lag timed", worker, events, models, kills, 240)
        lag_is_zero(settings, [settings.topic_events, settings.topic_inferences])
        # The worker's own gauge says so too, measured after the last commit.
        done = time.time()

        def caught_up() -> bool:
            lag = metric_total(settings, "lineage_consumer_lag_records")
            return measured() > done and lag == 0

        wait_until(caught_up, 60, "the worker's lag gauge did not return to zero")
        alive()
        assert worker.proc.pid == pid
    finally:
        worker.stop()
    assert outcome.lost == outcome.duplicates == 0
