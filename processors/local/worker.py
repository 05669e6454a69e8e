"""Run a worker in the background for the local stack (``lineage up``), and stop it again."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lineage_collector.security import NO_SECRET, Secret
from lineage_processors.errors import LocalStackError
from lineage_processors.settings import WorkerSettings
from lineage_processors.worker.memory import MALLOC_ENV

T = TypeVar("T")


@dataclass(frozen=True)
class WorkerStatus:
    running: bool
    pid: int | None
    query_url: str
    log_file: Path


def _pid_file(settings: WorkerSettings) -> Path:
    return settings.worker_state_dir / "worker.pid"


def _log_file(settings: WorkerSettings) -> Path:
    return (settings.worker_state_dir / "worker.log").resolve()


def _query_url(settings: WorkerSettings) -> str:
    return f"http://{settings.worker_host}:{settings.worker_port}/sql"


def _alive(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # A pid file can outlive its process (a reboot, a SIGKILL); only our worker counts.
    return b"lineage_processors.cli.main" in cmdline and b"worker" in cmdline


def _read_pid(settings: WorkerSettings) -> int | None:
    try:
        pid = int(_pid_file(settings).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def answers(url: str, timeout: float = 2.0, token: Secret = NO_SECRET) -> bool:
    """True when the worker's query endpoint runs a trivial query (sent with ``token``)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token.reveal()}"
    request = urllib.request.Request(url, data=b'{"sql": "SELECT 1"}', headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def status(settings: WorkerSettings) -> WorkerStatus:
    pid = _read_pid(settings)
    return WorkerStatus(pid is not None, pid, _query_url(settings), _log_file(settings))


# WorkerSettings the worker never reads. The subject key pseudonymises identifiers where they are
# emitted or asked about (the SDK, `lineage subject`); kept out of the worker's environment,
# it cannot be read from /proc/<pid>/environ or a dump of the process.
NOT_FOR_THE_WORKER = frozenset(spec.env for spec in WorkerSettings.SPECS if spec.field == "subject_key")


def worker_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` less the settings the worker never reads."""
    return {name: value for name, value in env.items() if name not in NOT_FOR_THE_WORKER}


def start(settings: WorkerSettings, env: dict[str, str], timeout: float = 60.0) -> WorkerStatus:
    """Start a background worker unless one is running; wait until it answers queries."""
    current = status(settings)
    if current.running:
        return current
    settings.worker_state_dir.mkdir(parents=True, exist_ok=True)
    url = _query_url(settings)
    start_detached(
        # The worker writes and rotates its log itself; the output sent to the same file
        # here holds what comes before its logging is set up (an import error, say).
        ["lineage_processors.cli.main", "worker", "--log-file", str(_log_file(settings))],
        env={**MALLOC_ENV, **worker_env(env)},  # the caller's environment may say otherwise
        log_file=_log_file(settings),
        pid_file=_pid_file(settings),
        what=f"the worker at {url}",
        ready=lambda: True if answers(url, token=settings.read_token) else None,
        on_timeout=lambda: stop(settings),
        timeout=timeout,
        pause=0.3,
    )
    return status(settings)


def stop(settings: WorkerSettings, timeout: float = 30.0) -> bool:
    """Stop the background worker gracefully (it commits on the way out); True if one ran."""
    pid = _read_pid(settings)
    if pid is None:
        _pid_file(settings).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    _pid_file(settings).unlink(missing_ok=True)
    return True


def start_detached(
    module: Sequence[str],
    *,
    env: Mapping[str, str],
    log_file: Path,
    pid_file: Path,
    what: str,
    ready: Callable[[], T | None],
    on_timeout: Callable[[], object],
    timeout: float,
    pause: float = 0.1,
) -> T:
    """Run ``python -m MODULE ARGS...`` in a session of its own, logging to ``log_file``,
    its pid in ``pid_file``; return what ``ready`` returns once it is not None. A process
    that exits first, or does not get ready within ``timeout`` seconds (``on_timeout`` then
    stops it), is a :class:`LocalStackError` naming ``what`` and ending with its log's tail."""
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", *module],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the command that started it
        )
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalStackError(
                f"{what} exited with code {proc.returncode} while starting; "
                f"see {log_file}:\n{log_tail(log_file)}"
            )
        if (answer := ready()) is not None:
            return answer
        time.sleep(pause)
    on_timeout()
    raise LocalStackError(
        f"{what} did not answer within {timeout:.0f}s; see {log_file}:\n{log_tail(log_file)}"
    )


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log, for an error message about a local service."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log written)"
