"""Scenarios 5 and 6: the Kafka broker dies or stalls while services emit through the SDK
and a worker reads; every event the SDK accepted is stored, exactly once.

They use a broker of this module's own (``own_kafka``), which keeps its ports across
restarts, so the SDK and the worker find it again at the same address.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from collector import LineageClient
from collector.config import Settings
from processors.local_kafka import LocalKafka
from tests.conftest import WorkerProcess, broker_up, isolated_settings
from tests.faults.conftest import sized
from tests.faults.helpers import exactly_once, lag_is_zero
from tests.faults.workload import Emitter


def broker_pid(kafka: LocalKafka) -> int:
    pid = kafka.status().pid
    assert pid is not None, "the fault suite's own Kafka broker is not running"
    return pid


def client(settings: Settings, config: dict[str, Any] | None = None) -> LineageClient:
    """The SDK as a service configures it, spooling to the settings' spool folder."""
    return LineageClient(
        settings.kafka_bootstrap,
        topic_events=settings.topic_events,
        topic_inferences=settings.topic_inferences,
        namespace="faults",
        producer_config=config,
        spool_dir=settings.effective_spool_dir,
    )


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def all_accepted_stored(
    scenario: str, sdk: LineageClient, worker: WorkerProcess, events: int, models: int, faults: int
) -> None:
    """The SDK delivers what it accepted, through its spool, failing none; the running
    worker stores every event exactly once and catches up."""
    assert sdk.flush(120) == 0
    producer = sdk.producer
    assert (producer.spooled > 0, producer.failed) == (True, 0), producer.last_error
    assert producer.replayed >= producer.spooled
    sdk.close()
    settings = worker.settings
    try:
        outcome = exactly_once(scenario, worker, events, models, faults, timeout=240)
        lag_is_zero(settings, [settings.topic_events, settings.topic_inferences])
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-3000:]
    finally:
        worker.stop()
    assert outcome.lost == outcome.duplicates == 0


def test_scenario5_broker_sigkilled_and_restarted_while_the_sdk_emits_every_accepted_event_stored(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    """Scenario 5. Pass: while a service emits through the SDK and a worker stores, the
    broker is SIGKILLed and restarted (once, or several times at full size); the SDK
    spools what Kafka cannot take meanwhile, nothing is counted as failed, and every
    event the SDK accepted is stored exactly once, raw and FINAL, the lag back to zero."""
    settings = isolated_settings(tmp_path / "state", broker_up(own_kafka))
    worker = WorkerProcess(settings).start()
    sdk = client(settings)
    emitter = Emitter(sdk, pause=0.2)
    kills = sized(1, 3)
    try:
        for _ in range(kills):
            time.sleep(1.5)
            spooled = sdk.producer.spooled
            pid = broker_pid(own_kafka)
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not own_kafka.status().running, 30, "the broker did not die")
            # Kafka is gone: what is emitted now can only go to the spool.
            wait_until(
                lambda before=spooled: sdk.producer.spooled > before + 200,
                60,
                "nothing was spooled",
            )
            time.sleep(1.0)
            broker_up(own_kafka)
        time.sleep(1.5)
    finally:
        events, models = emitter.stop()
    all_accepted_stored("5 broker SIGKILLed", sdk, worker, events, models, kills)


def test_scenario6_flood_while_the_broker_is_paused_every_event_spooled_or_sent_and_stored(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    """Scenario 6. Pass: while the broker is paused (SIGSTOP: connections open, nothing
    answers), a service floods the SDK; once the local queue is full and Kafka stalls, the
    SDK spools instead of dropping or blocking, counts every event it spooled, fails none,
    and after the broker resumes (SIGCONT) every event it accepted is stored exactly once."""
    settings = isolated_settings(tmp_path / "state", broker_up(own_kafka))
    worker = WorkerProcess(settings).start()
    # A small queue fills within a second or two of the pause, as a big one would under a
    # real flood.
    sdk = client(settings, {"queue.buffering.max.messages": 5_000})
    emitter = Emitter(sdk, round_size=500, pause=0.0)
    pid = broker_pid(own_kafka)
    try:
        time.sleep(1.0)
        os.kill(pid, signal.SIGSTOP)
        try:
            paused = time.monotonic()
            wait_until(lambda: sdk.producer.spooled > 5_000, 120, "the flood was not spooled")
            time.sleep(max(0.0, sized(3, 15) - (time.monotonic() - paused)))
        finally:
            os.kill(pid, signal.SIGCONT)
        time.sleep(1.0)
    finally:
        events, models = emitter.stop()
    assert sdk.producer.spooled > 5_000
    all_accepted_stored("6 flood, broker paused", sdk, worker, events, models, 1)
