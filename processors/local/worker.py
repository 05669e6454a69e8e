"""The worker of the local stack: ``lineage up`` starts it in the background, ``lineage down``
stops it, and the other commands find it through its state folder.

Files in the worker's state folder (``<state>/worker``):

``worker.pid``  its pid (a hint only: see :func:`status`)
``worker.log``  its log, which it rotates itself at LINEAGE_LOG_MAX_BYTES
``ports.json``  the port picked for it when LINEAGE_WORKER_PORT is not set, kept across restarts
``url``         its address, ``http://HOST:PORT``, from its start until it stops
``instance``    the random name it was started with (LINEAGE_WORKER_INSTANCE) and reports on
                ``/healthz``: whatever answers on the port counts as this worker only if it
                reports this name, so another program that holds the port never passes for it
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lineage_collector.security import NO_SECRET, Secret
from lineage_processors.errors import LocalStackError
from lineage_processors.local import processes
from lineage_processors.local.ports import HOST, KeptPorts, free_ports, taken_port, write_atomically
from lineage_processors.local.state import env_name, locked
from lineage_processors.settings import WorkerSettings
from lineage_processors.worker.memory import MALLOC_ENV

_PID, _LOG, _URL, _INSTANCE = "worker.pid", "worker.log", "url", "instance"
_MODULE = "lineage_processors.cli.main"  # the worker is `python -m _MODULE worker ...`
# No proxy for the worker on this machine, whatever http_proxy and no_proxy say.
_LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class WorkerStatus:
    """What :func:`status` found."""

    running: bool
    pid: int | None
    url: str | None
    """``http://HOST:PORT`` while it runs, as recorded when it started; else ``None``."""
    log_file: Path
    instance: str = ""
    """The name it reports on ``/healthz``."""

    @property
    def query_url(self) -> str:
        """Its read-only SQL endpoint; empty when it does not run."""
        return f"{self.url}/sql" if self.url else ""


def _file(settings: WorkerSettings, name: str) -> Path:
    return settings.worker_state_dir / name


def _log_file(settings: WorkerSettings) -> Path:
    return _file(settings, _LOG).resolve()


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _is_ours(pid: int, instance: str) -> bool:
    """True if ``pid`` is a worker started with ``instance`` (any worker if that is empty)."""
    args = processes.command_line(pid)
    if args is None or _MODULE not in args or "worker" not in args:
        return False
    if not instance:
        return True
    # Another state folder's worker may have the pid of this one's that died: its instance
    # is not this one's.
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"{env_name('worker_instance')}={instance}".encode() in environ


def status(settings: WorkerSettings) -> WorkerStatus:
    """Whether the worker of ``settings``' state folder runs, its pid, address and log.

    A pid file alone is not trusted: the process must be a worker started with this folder's
    instance name, so a stale pid file (after a crash or a reboot, the pid possibly reused)
    reads as not running. Cheap: asks the worker nothing (see :func:`healthy`).
    """
    instance = _read(_file(settings, _INSTANCE))
    try:
        pid: int | None = int(_read(_file(settings, _PID)))
    except ValueError:
        pid = None
    if pid is None or not _is_ours(pid, instance):
        return WorkerStatus(False, None, None, _log_file(settings))
    url = _read(_file(settings, _URL)) or None
    return WorkerStatus(True, pid, url, _log_file(settings), instance)


def identifies(url: str, instance: str, timeout: float = 2.0) -> bool:
    """True if the server at ``url`` reports ``instance`` as its name on ``/healthz``."""
    try:
        with _LOCAL_OPENER.open(f"{url}/healthz", timeout=timeout) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and body.get("instance") == instance


def answers(url: str, timeout: float = 2.0, token: Secret = NO_SECRET) -> bool:
    """True when the worker's query endpoint ``url`` runs a trivial query (sent with
    ``token``)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token.reveal()}"
    request = urllib.request.Request(url, data=b'{"sql": "SELECT 1"}', headers=headers)
    try:
        with _LOCAL_OPENER.open(request, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def healthy(worker: WorkerStatus, token: Secret = NO_SECRET) -> bool:
    """True if ``worker`` runs, the server at its address reports its instance name, and it
    answers queries (sent with ``token``)."""
    if not (worker.running and worker.url and worker.instance):
        return False
    return identifies(worker.url, worker.instance) and answers(worker.query_url, token=token)


# WorkerSettings the worker never reads. The subject key pseudonymises identifiers where they are
# emitted or asked about (the SDK, `lineage subject`); kept out of the worker's environment,
# it cannot be read from /proc/<pid>/environ or a dump of the process.
NOT_FOR_THE_WORKER = frozenset({env_name("subject_key")})


def worker_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` less the settings the worker never reads."""
    return {name: value for name, value in env.items() if name not in NOT_FOR_THE_WORKER}


def start(
    settings: WorkerSettings,
    env: Mapping[str, str],
    timeout: float = 60.0,
    *,
    free_port: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> WorkerStatus:
    """Start the worker of ``settings``' state folder unless it runs; return once it answers
    as itself (its instance name on ``/healthz``) and runs queries.

    ``env`` is its environment (less :data:`NOT_FOR_THE_WORKER`). It listens on
    ``settings.worker_port``; with ``free_port``, on the port kept for it in the state folder
    instead, picked free the first time and again if another process holds it by then.
    A worker that exits while starting, or does not answer within ``timeout`` seconds (it is
    stopped then), is a :class:`LocalStackError` ending with the tail of its log.
    """
    with locked(settings.worker_state_dir):
        current = status(settings)
        if current.running:
            return _answering(current, settings, timeout)
        port = _port(settings, free_port, progress)
        url = f"http://{_client_host(settings.worker_host)}:{port}"
        instance = secrets.token_hex(16)
        write_atomically(_file(settings, _INSTANCE), instance + "\n")
        write_atomically(_file(settings, _URL), url + "\n")
        launched = WorkerStatus(True, None, url, _log_file(settings), instance)
        try:
            processes.start_detached(
                # The worker writes and rotates its log itself; the output sent to the same
                # file here holds what comes before its logging is set up (an import error).
                [_MODULE, "worker", "--log-file", str(launched.log_file)],
                env={
                    **MALLOC_ENV,  # the caller's environment may say otherwise
                    **worker_env(env),
                    env_name("worker_port"): str(port),
                    env_name("worker_instance"): instance,
                },
                log_file=launched.log_file,
                pid_file=_file(settings, _PID),
                what=f"the worker at {url}",
                ready=lambda: True if healthy(launched, settings.read_token) else None,
                on_timeout=lambda: stop(settings),
                timeout=timeout,
                pause=0.3,
            )
        except LocalStackError:
            _file(settings, _URL).unlink(missing_ok=True)
            raise
        return status(settings)


def stop(settings: WorkerSettings, timeout: float = 30.0) -> bool:
    """Stop the worker of ``settings``' state folder gracefully (it commits on the way out,
    SIGKILL after ``timeout`` seconds); True if one ran."""
    current = status(settings)
    pid = current.pid
    if pid is not None:
        processes.stop(
            pid,
            running=lambda: _is_ours(pid, current.instance),
            ask=lambda: os.kill(pid, signal.SIGTERM),
            timeout=timeout,
        )
    for name in (_PID, _URL):
        _file(settings, name).unlink(missing_ok=True)
    return pid is not None


def _answering(current: WorkerStatus, settings: WorkerSettings, timeout: float) -> WorkerStatus:
    """``current``, the running worker, once it answers as itself (it may be starting)."""
    deadline = time.monotonic() + timeout
    while not healthy(current, settings.read_token):
        if not status(settings).running:
            raise LocalStackError(
                f"the worker (pid {current.pid}) exited while starting. The end of its log, "
                f"{current.log_file}:\n{processes.log_tail(current.log_file)}"
            )
        if time.monotonic() > deadline:
            raise LocalStackError(
                f"the worker of {settings.state_dir} runs (pid {current.pid}) but does not "
                f"answer as itself at {current.url} within {timeout:.0f}s; stop it with "
                f"`lineage down`. The end of its log, {current.log_file}:\n"
                f"{processes.log_tail(current.log_file)}"
            )
        time.sleep(0.3)
    return current


def _port(settings: WorkerSettings, free_port: bool, progress: Callable[[str], None]) -> int:
    if not free_port:
        return settings.worker_port
    kept = KeptPorts(settings.worker_state_dir, ("port",))
    (port,) = kept.keep()
    if taken_port([port]) is None:
        return port
    # Nobody needs the old port: every command finds the worker at the address recorded now.
    (moved,) = kept.replace(free_ports(1))
    progress(f"worker: port {port} is held by another process; the worker moves to port {moved}")
    return moved


def _client_host(host: str) -> str:
    """Where a client on this machine reaches a worker bound to ``host``."""
    if host in ("", "0.0.0.0", "::"):
        return HOST
    return f"[{host}]" if ":" in host else host
