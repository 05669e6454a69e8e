"""Scenarios 5 and 6: the Kafka broker dies or stalls while services emit through the SDK
and a worker reads; every event the SDK accepted is stored, exactly once.

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

from lineage_collector import LineageClient
from lineage_processors.local.kafka import LocalKafka
from lineage_processors.settings import WorkerSettings
from tests.conftest import REPO, WorkerProcess, broker_up, isolated_settings
from tests.faults.conftest import sized
from tests.faults.helpers import broker_pid, exactly_once, lag_is_zero, service_client, wait_until
from tests.faults.load import PATIENCE, CpuHog
from tests.faults.workload import Emitter


def all_accepted_stored(
    scenario: str, sdk: LineageClient, worker: WorkerProcess, events: int, models: int, faults: int
) -> None:
    """The SDK delivers what it accepted, through its spool, failing none; the running
    worker stores every event exactly once and catches up."""
    assert sdk.flush(PATIENCE) == 0
    producer = sdk.producer
    assert (producer.spooled > 0, producer.failed) == (True, 0), producer.last_error
    assert producer.replayed >= producer.spooled
    sdk.close()
    settings = worker.settings
    try:
        outcome = exactly_once(scenario, worker, events, models, faults, timeout=PATIENCE)
        topics = [settings.topic_events, settings.topic_inferences]
        lag_is_zero(settings, topics, timeout=PATIENCE)
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
    event the SDK accepted is stored exactly once, raw and FINAL, the lag back to zero.
    Two more services, in processes of their own, say on stderr no more than an outage
    needs (see :func:`check_service_logs`)."""
    settings = isolated_settings(tmp_path / "state", broker_up(own_kafka))
    began = time.monotonic()
    services = start_services(settings, tmp_path)  # before the worker: they start meanwhile
    try:
        worker = WorkerProcess(settings).start()
        sdk = service_client(settings)
        emitter = Emitter(sdk, pause=0.2)
        for service in services.values():
            assert service.stdout is not None
            assert service.stdout.readline().split() == ["delivered", "0"]
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
        reports = {how: s.communicate("", timeout=PATIENCE) for how, s in services.items()}
    finally:
        for service in services.values():
            service.kill()
            service.wait()
    check_service_logs(services, reports, time.monotonic() - began)
    all_accepted_stored("5 broker SIGKILLed", sdk, worker, events, models, kills)


def test_scenario6_flood_while_the_broker_is_paused_every_event_spooled_or_sent_and_stored(
    own_kafka: LocalKafka, tmp_path: Path, cpu_hog: CpuHog
) -> None:
    """Scenario 6. Pass: while the broker is paused (SIGSTOP: connections open, nothing
    answers), a service floods the SDK; once the local queue is full and Kafka stalls, the
    SDK spools instead of dropping or blocking, counts every event it spooled, fails none,
    and after the broker resumes (SIGCONT) every event it accepted is stored exactly once."""
    settings = isolated_settings(tmp_path / "state", broker_up(own_kafka))
    worker = WorkerProcess(settings).start()
    # A small queue fills within a second or two of the pause, as a big one would under a
    # real flood.
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
) -> None:
    """Both services delivered all they accepted, through their spools. The one without
    logging got a warning when Kafka went and a line when it came back, on stderr, not
    librdkafka's account of every retry (hundreds of lines before); the one with logging
    got librdkafka's lines through it, each kind once a minute at most."""
    for how, (out, err) in reports.items():
        print(f"logging {how}: {out.strip()}; stderr, {len(err.splitlines())} lines:\n{err}")
        assert services[how].returncode == 0, err
        words = out.split()
        assert int(words[words.index("spooled") + 1]) > 0, out
        assert int(words[words.index("waiting") + 1]) == 0, out
    bare = reports["none"][1].splitlines()
    assert bare and bare[0].startswith("Kafka cannot take events now; they wait in the spool")
    said = ("Kafka cannot take events now", "Kafka takes events again")
    assert all(line.startswith(said) for line in bare) and len(bare) <= 6, bare
    configured = reports["basic"][1].splitlines()
    kinds = Counter(re.sub(r"\d+", "#", line.split(" (repeated")[0]) for line in configured)
    assert any(kind.startswith("ERROR lineage_collector.kafka: ") for kind in kinds), configured
    assert max(kinds.values()) <= 1 + seconds // 60, configured
