"""Scenarios 5, 11 and 6: the Kafka broker dies or stalls while services emit through the
SDK and a worker reads; every event the SDK accepted is stored, exactly once, and the worker
outlives it all.

They use a broker of this module's own (``own_kafka``), which keeps its ports across
restarts, so the SDK and the worker find it again at the same address.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from lineage_collector import LineageClient
from lineage_processors.local.kafka import LocalKafka
from lineage_processors.settings import WorkerSettings
from tests.conftest import REPO, WorkerProcess, broker_up, isolated_settings
from tests.faults.conftest import sized
from tests.faults.helpers import (
    broker_pid,
    exactly_once,
    lag_is_zero,
    metric_total,
    service_client,
    wait_until,
)
from tests.faults.load import PATIENCE
from tests.faults.workload import Emitter


def all_accepted_stored(
    scenario: str, sdk: LineageClient, worker: WorkerProcess, events: int, models: int, faults: int
) -> None:
    """The SDK delivers what it accepted, through its spool, failing none; the running
    worker stores every event exactly once, catches up and runs still."""
    assert sdk.flush(PATIENCE) == 0
    producer = sdk.producer
    assert (producer.spooled > 0, producer.failed) == (True, 0), producer.last_error
    assert producer.replayed >= producer.spooled
    sdk.close()
    settings = worker.settings
    outcome = exactly_once(scenario, worker, events, models, faults, timeout=PATIENCE)
    lag_is_zero(settings, [settings.topic_events, settings.topic_inferences], timeout=PATIENCE)
    assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-3000:]
    assert outcome.lost == outcome.duplicates == 0


def test_scenario5_and_scenario11_broker_sigkilled_and_restarted_over_and_over_while_the_sdk_emits(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    """Scenarios 5 and 11. Pass: while a service emits through the SDK and a worker stores,
    the broker is SIGKILLed and restarted three times (eight at full size).

    Scenario 5: the SDK spools what Kafka cannot take meanwhile, nothing is counted as
    failed, all it spooled is replayed, and every event the SDK accepted is stored exactly
    once, raw and FINAL, the lag back to zero. Two more services, in processes of their
    own, say on stderr no more than an outage needs (see :func:`check_service_logs`).

    Scenario 11: the worker's lag timer, every second, fails while Kafka is away (counted
    on lineage_background_errors_total) and measures again once it is back; no background
    task ends the worker, which is the same process throughout, and its own lag gauge
    returns to zero. (Before, a lag measurement that timed out while Kafka came back
    escaped its timer and ended the whole worker.)"""
    settings = isolated_settings(tmp_path / "state", broker_up(own_kafka)).replace(lag_interval=1.0)
    kills = sized(3, 8)
    began = time.monotonic()
    services = start_services(settings, tmp_path)  # before the worker: they start meanwhile
    worker = WorkerProcess(settings)
    try:
        worker.start()
        assert worker.proc is not None
        pid = worker.proc.pid
        sdk = service_client(settings)
        emitter = Emitter(sdk, pause=0.2)

        def alive() -> None:
            assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-5000:]

        def failures() -> float:
            return metric_total(settings, "lineage_background_errors_total")

        def measured() -> float:
            return metric_total(settings, "lineage_consumer_lag_measured_timestamp_seconds")

        try:
            for service in services.values():
                assert service.stdout is not None
                assert service.stdout.readline().split() == ["delivered", "0"]
            for _ in range(kills):
                # Each kill lands on a broker taking the SDK's events directly.
                wait_until(
                    lambda before=sdk.producer.delivered: sdk.producer.delivered > before,
                    60,
                    "Kafka took no events",
                )
                failed, spooled = failures(), sdk.producer.spooled
                os.kill(broker_pid(own_kafka), signal.SIGKILL)
                wait_until(lambda: not own_kafka.status().running, 30, "the broker did not die")
                # Kafka is gone: what is emitted now can only go to the spool, and the lag
                # cannot be measured.
                wait_until(
                    lambda before=spooled: sdk.producer.spooled > before + 200,
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
            # Events sent after the last outage, as before it.
            wait_until(
                lambda before=sdk.producer.delivered: sdk.producer.delivered > before,
                60,
                "Kafka took no events after the last restart",
            )
        finally:
            events, models = emitter.stop()
        reports = {how: s.communicate("", timeout=PATIENCE) for how, s in services.items()}
        check_service_logs(services, reports, time.monotonic() - began, kills)
        all_accepted_stored("5 and 11 broker SIGKILLed", sdk, worker, events, models, kills)
        # The worker's own gauge says it caught up too, measured after the last commit.
        done = time.time()

        def caught_up() -> bool:
            lag = metric_total(settings, "lineage_consumer_lag_records")
            return measured() > done and lag == 0

        wait_until(caught_up, 60, "the worker's lag gauge did not return to zero")
        alive()
        assert worker.proc.pid == pid
    finally:
        for service in services.values():
            service.kill()
            service.wait()
        worker.stop()


def test_scenario6_flood_while_the_broker_is_paused_every_event_spooled_or_sent_and_stored(
    own_kafka: LocalKafka, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Scenario 6. Pass: while the broker is paused (SIGSTOP: connections open, nothing
    answers), a service floods the SDK; once the local queue is full and Kafka stalls, the
    SDK spools instead of dropping or blocking, counts every event it spooled, fails none,
    and after the broker resumes (SIGCONT) every event it accepted is stored exactly once.
    All of it beside the CPU hog, from the moment the worker answers."""
    settings = isolated_settings(tmp_path / "state", broker_up(own_kafka))
    worker = WorkerProcess(settings).start()
    try:
        # The flood, the stall and the catching up are what must hold on a loaded machine;
        # a worker's start under the hog took a minute of the scenario's time.
        request.getfixturevalue("cpu_hog")
        # A small queue fills within a second or two of the pause, as a big one would under
        # a real flood.
        sdk = service_client(settings, {"queue.buffering.max.messages": 5_000})
        emitter = Emitter(sdk, round_size=500, pause=0.0)
        pid = broker_pid(own_kafka)
        try:
            # The flood reaches Kafka before the pause, and again after it: conditions, not
            # sleeps, as a loaded machine takes its time over each.
            wait_until(lambda: sdk.producer.delivered > 0, PATIENCE, "nothing was delivered")
            os.kill(pid, signal.SIGSTOP)
            try:
                paused = time.monotonic()
                wait_until(lambda: sdk.producer.spooled > 5_000, PATIENCE, "nothing was spooled")
                time.sleep(max(0.0, sized(3, 15) - (time.monotonic() - paused)))
                delivered = sdk.producer.delivered
            finally:
                os.kill(pid, signal.SIGCONT)
            wait_until(
                lambda: sdk.producer.delivered > delivered, PATIENCE, "nothing was delivered after"
            )
        finally:
            events, models = emitter.stop()
        assert sdk.producer.spooled > 5_000
        all_accepted_stored("6 flood, broker paused", sdk, worker, events, models, 1)
    finally:
        worker.stop()


# A service using the SDK, its logging configured as argv[3] says ("none": not at all),
# emitting until its stdin closes; then it flushes and reports what became of its events.
SERVICE = """
import logging, sys, threading, time
from pathlib import Path
from lineage_collector import DatasetRef, LineageClient

if sys.argv[3] == "basic":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
client = LineageClient(sys.argv[1], topic_events=sys.argv[4], spool_dir=Path(sys.argv[2]))
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
sent = 0
while not done.is_set():
    client.emit_training_run("m", f"1.{sent}", [DatasetRef("d", "v1", "train")])
    sent += 1
    if sent == 1:
        print("delivered", client.flush(60), flush=True)
    time.sleep(0.01)
waiting = client.flush(120)
print("sent", sent, "spooled", client.producer.spooled, "waiting", waiting, flush=True)
client.close()
"""


def start_services(settings: WorkerSettings, tmp_path: Path) -> dict[str, subprocess.Popen[str]]:
    """A service that never configured logging ("none") and one that did ("basic"), each
    emitting to a topic no worker reads; each prints ``delivered 0`` once Kafka took its
    first event."""

    def command(how: str) -> list[str]:
        spool, topic = str(tmp_path / f"spool-{how}"), f"{settings.topic_events}.hosts"
        return [sys.executable, "-c", SERVICE, settings.kafka_bootstrap, spool, how, topic]

    return {
        how: subprocess.Popen(
            command(how),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for how in ("none", "basic")
    }


def check_service_logs(
    services: dict[str, subprocess.Popen[str]],
    reports: dict[str, tuple[str, str]],
    seconds: float,
    outages: int,
) -> None:
    """Both services delivered all they accepted, through their spools. The one without
    logging got a warning when Kafka went and a line when it came back, on stderr, each
    once a minute at most, not librdkafka's account of every retry (hundreds of lines
    before); the one with logging got librdkafka's lines through it, each kind once a
    minute at most."""
    for how, (out, err) in reports.items():
        print(f"logging {how}: {out.strip()}; stderr, {len(err.splitlines())} lines:\n{err}")
        assert services[how].returncode == 0, err
        words = out.split()
        assert int(words[words.index("spooled") + 1]) > 0, out
        assert int(words[words.index("waiting") + 1]) == 0, out
    bare = reports["none"][1].splitlines()
    assert bare and bare[0].startswith("Kafka cannot take events now; they wait in the spool")
    said = ("Kafka cannot take events now", "Kafka takes events again")
    assert all(line.startswith(said) for line in bare), bare
    assert len(bare) <= len(said) * min(outages, 1 + seconds // 60), bare
    configured = reports["basic"][1].splitlines()
    kinds = Counter(re.sub(r"\d+", "#", line.split(" (repeated")[0]) for line in configured)
    assert any(kind.startswith("ERROR lineage_collector.kafka: ") for kind in kinds), configured
    assert max(kinds.values()) <= 1 + seconds // 60, configured
