"""A stopping worker is gone by its deadline: threads waited for within it, a watchdog after."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from lineage_processors.worker.stopping import Deadline, exit_code, wait_for_threads
from tests.conftest import REPO


def test_the_exit_status_follows_what_ended_the_process() -> None:
    assert exit_code(None) == 0
    assert exit_code(SystemExit(0)) == exit_code(SystemExit(None)) == 0
    assert exit_code(SystemExit(70)) == 70
    assert exit_code(SystemExit("crashed")) == 1
    assert exit_code(RuntimeError("crashed")) == 1


def test_time_left_counts_from_the_start_of_the_stop() -> None:
    now = [100.0]
    deadline = Deadline(7.0, clock=lambda: now[0])
    assert deadline.left() == 7.0  # not stopping yet
    deadline.at = now[0] + deadline.seconds  # as start() sets it, without its watchdog
    now[0] += 5
    assert deadline.left() == 2.0
    now[0] += 5
    assert deadline.left() == 0.0


def test_threads_are_waited_for_no_longer_than_told() -> None:
    release = threading.Event()
    busy = threading.Thread(target=release.wait, name="store_0")
    busy.start()
    try:
        started = time.monotonic()
        assert busy in wait_for_threads(0.3)
        assert 0.3 <= time.monotonic() - started < 5
        release.set()
        assert busy not in wait_for_threads(5.0)
    finally:
        release.set()
        busy.join()


WEDGED = """
import logging, sys, threading, time
from lineage_processors.worker.stopping import Deadline
logging.basicConfig(level=logging.INFO, format="%(message)s")
threading.Thread(target=time.sleep, args=(60,), name="store_0").start()  # an endless insert
Deadline(0.5).start()
time.sleep(60)
print("not stopped", flush=True)
"""


def test_the_watchdog_ends_a_process_at_the_deadline_whatever_holds_it() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", WEDGED], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert time.monotonic() - started < 30  # the interpreter's start, then 0.5 s
    assert done.returncode == 0, done.stderr
    assert "not stopped" not in done.stdout
    assert "the worker did not stop within 0.5s: it exits now" in done.stderr
