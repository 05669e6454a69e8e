"""`lineage up`, `demo`, `down` as `make run` drives them: own broker, nothing left after."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from lineage_processors.settings import WorkerSettings
from tests.conftest import REPO, child_env
from tests.processors.cli.conftest import lineage_in
from tests.processors.local.impostor import impostor


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
    settings = WorkerSettings(state_dir=state, topic_partitions=2, subject_key=key)
    # As a user runs it: no LINEAGE_WORKER_PORT, so the worker gets a free port of its own,
    # whatever holds the default one.
    env = child_env(settings)
    del env["LINEAGE_WORKER_PORT"]

    def lineage(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return lineage_in(REPO, *args, env=env, timeout=timeout)

    with contextlib.ExitStack() as default_port:
        with contextlib.suppress(OSError):  # if something holds it already, so much the better
            default_port.enter_context(impostor(WorkerSettings().worker_port))
        first = lineage("up", timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "kafka: running at 127.0.0.1:" in first.stdout
    bootstrap = (state / "kafka" / "bootstrap").read_text().strip()
    worker_url = (state / "worker" / "url").read_text().strip()
    assert f"worker: running at {worker_url}, pid " in first.stdout
    assert worker_url != f"http://127.0.0.1:{WorkerSettings().worker_port}"
    running = sorted(processes_using(state))
    assert len(running) == 2, running  # one broker, one worker
    [worker] = [p for p in running if b"lineage_processors.cli.main\0worker" in cmdline(p)]
    [kafka_pid] = [p for p in running if p != worker]
    # glibc's threshold for blocks mapped on their own, fixed from the start (footprint.py)
    environ = b"\0" + Path(f"/proc/{worker}/environ").read_bytes()
    assert b"\0MALLOC_MMAP_THRESHOLD_=262144\0" in environ
    # `up` had the subject key; the worker, which never pseudonymises, is not given it.
    assert b"\0LINEAGE_SUBJECT_KEY=" not in environ and key.encode() not in environ

    again = lineage("up", timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(processes_using(state)) == running  # nothing new started

    status = lineage("status")
    assert status.returncode == 0, status.stdout
    # The addresses the stack runs at, as every other command finds them.
    assert f"kafka: running, pid {kafka_pid}, at {bootstrap} (log " in status.stdout
    assert f"worker: running, pid {worker}, at {worker_url}, queries at {worker_url}/sql" in (
        status.stdout
    )
    assert f"store: embedded, in {state.resolve() / 'chdb'}" in status.stdout

    demo = lineage("demo", timeout=120)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"waiting for the worker (pid {worker}) to store them ..." in demo.stdout
    # The story told to its end (tests/e2e/test_demo.py checks every figure).
    assert demo.stdout.rstrip().endswith("steps again on the corrected labels."), demo.stdout

    down = lineage("down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "worker: stopped" in down.stdout and "kafka: stopped" in down.stdout
    assert processes_using(state) == []
    stopped = lineage("status")
    assert stopped.returncode == 3
    assert "kafka: not running" in stopped.stdout and "worker: not running" in stopped.stdout
