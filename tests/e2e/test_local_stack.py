"""`lineage up`, `demo`, `down` as `make run` drives them: own broker, nothing left after."""

from __future__ import annotations

import os
from pathlib import Path

from lineage_processors.settings import WorkerSettings
from tests.conftest import free_port, run_cli


def processes_using(folder: Path) -> list[int]:
    """Pids whose command line mentions ``folder``: our broker and worker, nobody else."""
    needle = str(folder.resolve()).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            found.append(int(entry))
    return found


def cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def test_up_twice_demo_down_leaves_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    key = "local-stack-subject-key-" + "k" * 16
    settings = WorkerSettings(
        state_dir=state, worker_port=free_port(), topic_partitions=2, subject_key=key
    )
    first = run_cli(settings, "up", timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "kafka: running at 127.0.0.1:" in first.stdout
    running = sorted(processes_using(state))
    assert len(running) == 2, running  # one broker, one worker
    [worker] = [p for p in running if b"lineage_processors.cli.main\0worker" in cmdline(p)]
    # glibc's threshold for blocks mapped on their own, fixed from the start (footprint.py)
    environ = b"\0" + Path(f"/proc/{worker}/environ").read_bytes()
    assert b"\0MALLOC_MMAP_THRESHOLD_=262144\0" in environ
    # `up` had the subject key; the worker, which never pseudonymises, is not given it.
    assert b"\0LINEAGE_SUBJECT_KEY=" not in environ and key.encode() not in environ

    again = run_cli(settings, "up", timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(processes_using(state)) == running  # nothing new started

    status = run_cli(settings, "status")
    assert status.returncode == 0, status.stdout
    assert "kafka: running" in status.stdout and "worker: running" in status.stdout

    demo = run_cli(settings, "demo", timeout=120)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    # The story told to its end (tests/answers/test_demo.py checks every figure).
    assert demo.stdout.rstrip().endswith("steps again on the corrected labels."), demo.stdout

    down = run_cli(settings, "down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "worker: stopped" in down.stdout and "kafka: stopped" in down.stdout
    assert processes_using(state) == []
    stopped = run_cli(settings, "status")
    assert stopped.returncode == 3
    assert "kafka: not running" in stopped.stdout and "worker: not running" in stopped.stdout
