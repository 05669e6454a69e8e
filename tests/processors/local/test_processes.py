"""Detached processes of the local stack: recognised, started, stopped, and their logs' ends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lineage_processors.errors import LocalStackError
from lineage_processors.local.processes import (
    alive,
    command_line,
    log_tail,
    start_detached,
    stop,
)


def test_the_command_line_of_a_process_and_of_none() -> None:
    args = command_line(os.getpid())
    assert args is not None and "pytest" in " ".join(args)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while child.poll() is None:  # not collected yet: poll() reaps it only once it exited
        time.sleep(0.01)
    assert command_line(child.pid) is None and not alive(child.pid)


def test_a_zombie_does_not_count_as_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    # Wait for its exit without collecting it: it stays a zombie until child.wait().
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    assert Path(f"/proc/{child.pid}").exists()
    assert not alive(child.pid) and command_line(child.pid) is None
    child.wait()


def test_a_process_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    log, pid_file = tmp_path / "svc.log", tmp_path / "svc.pid"
    with pytest.raises(LocalStackError) as caught:
        start_detached(
            ["json.tool", str(tmp_path / "missing.json")],
            env=os.environ,
            log_file=log,
            pid_file=pid_file,
            what="the test service",
            ready=lambda: None,
            on_timeout=lambda: None,
            timeout=60,
        )
    message = str(caught.value)
    assert message.startswith("the test service exited with code 2 while starting.")
    assert f"The end of its log, {log}:" in message
    assert "No such file or directory" in message
    assert int(pid_file.read_text()) > 0


def test_a_process_that_never_gets_ready_is_stopped(tmp_path: Path) -> None:
    stopped: list[int] = []
    pid_file = tmp_path / "svc.pid"

    def stop_it() -> None:
        pid = int(pid_file.read_text())
        stop(pid, lambda: alive(pid), lambda: os.kill(pid, 15), timeout=10)
        stopped.append(pid)

    with pytest.raises(LocalStackError, match="did not answer within 1s"):
        start_detached(
            ["http.server", "0", "--bind", "127.0.0.1"],
            env=os.environ,
            log_file=tmp_path / "svc.log",
            pid_file=pid_file,
            what="the test service",
            ready=lambda: None,
            on_timeout=stop_it,
            timeout=1,
        )
    assert stopped and not alive(stopped[0])


def test_ready_returns_what_the_check_found(tmp_path: Path) -> None:
    pid_file = tmp_path / "svc.pid"
    answer = start_detached(
        ["http.server", "0", "--bind", "127.0.0.1"],
        env=os.environ,
        log_file=tmp_path / "svc.log",
        pid_file=pid_file,
        what="the test service",
        ready=lambda: "ready" if pid_file.exists() else None,
        on_timeout=lambda: None,
        timeout=60,
    )
    pid = int(pid_file.read_text())
    try:
        assert answer == "ready" and alive(pid)
    finally:
        stop(pid, lambda: alive(pid), lambda: os.kill(pid, 15), timeout=10)
    assert not alive(pid)


def test_a_process_that_ignores_the_request_to_stop_is_killed() -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(15, signal.SIG_IGN); "
            "print('ok', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ok\n"
    started = time.monotonic()
    stop(stubborn.pid, lambda: stubborn.poll() is None, stubborn.terminate, timeout=0.5)
    assert stubborn.wait(10) == -9
    assert time.monotonic() - started < 10


def test_the_tail_of_a_log_names_the_cause_not_the_stack_frames(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    assert log_tail(log) == "    (no log was written)"
    log.write_text("\n\n")
    assert log_tail(log) == "    (the log is empty)"
    lines = [f"line {n}" for n in range(30)]
    frames = ["\tat org.example.Main.run(Main.java:1)", "\t... 12 more"]
    log.write_text("\n".join([*lines, "java.lang.ClassNotFoundException: X", *frames, ""]))
    tail = log_tail(log, lines=3).splitlines()
    assert tail == ["    line 28", "    line 29", "    java.lang.ClassNotFoundException: X"]
