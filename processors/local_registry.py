"""A local schema registry with the Confluent Schema Registry API.

The registry is Apicurio Registry, whose ready-to-run server is published on Maven Central
(``io.apicurio:apicurio-registry-app:<version>:tar.gz:all``); it serves the Confluent API
under ``/apis/ccompat/v7``. The Java and Maven work lives in the shell scripts of
``deploy/local/registry/``: ``provision.sh`` fetches and unpacks the server once,
``registry-start.sh`` starts it, ``registry-stop.sh`` stops it. :class:`LocalRegistry` drives
them, picks and keeps the port, waits until the registry is ready, and turns every expected
failure into a :class:`~processors.errors.LocalStackError` that says what to do.

:meth:`LocalRegistry.up` returns the Confluent API base URL,
``http://127.0.0.1:PORT/apis/ccompat/v7``: what ``LINEAGE_SCHEMA_REGISTRY_URL`` and
Confluent's ``SchemaRegistryClient`` take.

Files in the registry's state folder:

``url``                  the base URL while the registry is up; other code finds it here
``ports.json``           the HTTP port, kept across restarts
``registry.pid``         the JVM's pid (a hint only, see :meth:`LocalRegistry.status`)
``registry.log``         the current run's log (``registry.log.1`` the previous run's)
``registry.properties``  rendered from ``deploy/local/registry/registry.properties.in``
``data/``                the H2 database holding the schemas; ids survive restarts
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from processors.errors import LocalStackError

HOST = "127.0.0.1"
API_PATH = "/apis/ccompat/v7"
DEFAULT_DEPLOY_DIR = Path(__file__).resolve().parents[1] / "deploy" / "local" / "registry"

_SCRIPTS = ("provision.sh", "registry-start.sh", "registry-stop.sh")
_PROVISION_NOT_DONE = 3  # provision.sh --check: the server is not in the cache yet
_PROGRESS_PREFIX = "==> "
# An idle registry stops in well under a second; the bound only matters for a wedged JVM.
_STOP_TIMEOUT_S = 30
_LOG_TAIL_LINES = 15
_STACK_FRAME = re.compile(r"\s+(at |\.\.\. \d+ more)")

# No proxy for the loopback registry, whatever http_proxy and no_proxy say.
_LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_JAVA_HINT = (
    "java was not found on PATH. The local schema registry runs on Java 17 or newer; install "
    "it, e.g. `apt-get install openjdk-17-jre-headless`, or point LINEAGE_SCHEMA_REGISTRY_URL "
    "at an existing Confluent-compatible schema registry instead."
)
_MVN_HINT = (
    "mvn (Apache Maven) was not found on PATH. It is needed once, to fetch the schema "
    "registry from Maven Central; install it, e.g. `apt-get install maven`, or point "
    "LINEAGE_SCHEMA_REGISTRY_URL at an existing Confluent-compatible schema registry instead."
)


@dataclass(frozen=True)
class RegistryStatus:
    """What :meth:`LocalRegistry.status` found."""

    running: bool
    pid: int | None
    url: str | None
    """The Confluent API base URL while running, else ``None``."""
    log_file: Path


class LocalRegistry:
    """Provision, start, stop and inspect the local schema registry of one state folder.

    ``state_dir`` is the registry's own folder; ``cache_dir`` holds the provisioned server,
    shared by every state folder; ``deploy_dir`` holds the scripts (the repository's
    ``deploy/local/registry`` unless given); ``start_timeout`` bounds, in seconds, how long
    :meth:`up` waits for the registry to be ready.
    """

    def __init__(
        self,
        state_dir: Path,
        cache_dir: Path,
        start_timeout: float = 120.0,
        deploy_dir: Path | None = None,
    ) -> None:
        # Absolute and free of symlinks: the state folder's registry.properties path is how a
        # running JVM is recognised as this folder's registry, and the scripts see it that way.
        self.state_dir = state_dir.expanduser().resolve()
        self.cache_dir = cache_dir.expanduser().resolve()
        self.deploy_dir = (deploy_dir or DEFAULT_DEPLOY_DIR).expanduser().resolve()
        self.start_timeout = start_timeout
        missing = [name for name in _SCRIPTS if not (self.deploy_dir / name).is_file()]
        if missing:
            raise LocalStackError(
                f"The local schema registry scripts are missing from {self.deploy_dir} "
                f"({', '.join(missing)}). They ship in the repository's deploy/local/registry "
                "folder; run from a complete checkout, or set LINEAGE_SCHEMA_REGISTRY_URL to "
                "use an existing schema registry."
            )

    # -- files of the state folder ---------------------------------------------------------

    @property
    def log_file(self) -> Path:
        """The current (or last) run's registry log."""
        return self.state_dir / "registry.log"

    @property
    def url_file(self) -> Path:
        """Holds the Confluent API base URL while the registry is up."""
        return self.state_dir / "url"

    @property
    def _pid_file(self) -> Path:
        return self.state_dir / "registry.pid"

    @property
    def _ports_file(self) -> Path:
        return self.state_dir / "ports.json"

    @property
    def _config_file(self) -> Path:
        return self.state_dir / "registry.properties"

    # -- public API ------------------------------------------------------------------------

    def provision(self, progress: Callable[[str], None] = print) -> Path:
        """Fetch the server into the cache folder unless already there; return its folder.

        Only the first call downloads (and needs ``mvn``); later ones return at once.
        """
        done = self._run_script("provision.sh", "--check", str(self.cache_dir), check=False)
        if done.returncode == 0:
            return Path(done.stdout.strip())
        if done.returncode != _PROVISION_NOT_DONE:
            raise LocalStackError(_script_failure("provision.sh", done.stderr))
        _require("mvn", _MVN_HINT)
        _require("java", _JAVA_HINT)
        return self._download(progress)

    def up(self, progress: Callable[[str], None] = print) -> str:
        """Start the registry unless it already runs; return its Confluent API base URL.

        Idempotent: a registry of this state folder that is running and ready is reused.
        On success the URL is also written to :attr:`url_file`.
        """
        _require("java", _JAVA_HINT)
        app_dir = self.provision(progress)
        with self._lock():
            pid = self._running_pid()
            if pid is not None:
                port = self._port_of_running(pid)
                url = _base_url(port)
                self._wait_until_ready(pid, port, started_here=False)
                self._write_url(url)
                progress(f"The schema registry is already running at {url} (pid {pid})")
                return url

            port = self._port()
            url = _base_url(port)
            progress(f"Starting the schema registry at {url} (state in {self.state_dir})")
            started = self._run_script(
                "registry-start.sh", str(app_dir), str(self.state_dir), str(port)
            )
            printed = started.stdout.split()
            if not printed or not printed[-1].isdigit():
                raise LocalStackError(
                    f"registry-start.sh did not report the registry's pid; see {self.log_file}"
                )
            pid = int(printed[-1])
            self._wait_until_ready(pid, port, started_here=True)
            self._write_url(url)
            progress(f"The schema registry is up at {url} (pid {pid}, log {self.log_file})")
            return url

    def down(self) -> bool:
        """Stop the registry of this state folder; return True if one was running.

        Waits for a clean shutdown (bounded, then SIGKILL); no registry process of this state
        folder is left afterwards. The URL file is removed either way.
        """
        if not self.state_dir.is_dir():
            return False
        with self._lock():
            stopped = self._run_script(
                "registry-stop.sh",
                str(self.state_dir),
                str(_STOP_TIMEOUT_S),
                timeout=_STOP_TIMEOUT_S + 30,
            )
            self.url_file.unlink(missing_ok=True)
        return stopped.stdout.strip() == "stopped"

    def status(self) -> RegistryStatus:
        """Report whether this state folder's registry runs, its pid and base URL.

        A pid file alone is not trusted: the process must be alive and be a JVM started with
        this folder's ``registry.properties``, so a stale pid file (after a crash or a
        reboot, the pid possibly reused) reads as not running.
        """
        pid = self._running_pid()
        url = None
        if pid is not None:
            port = self._read_port()
            url = _base_url(port) if port is not None else None
        return RegistryStatus(running=pid is not None, pid=pid, url=url, log_file=self.log_file)

    # -- processes -------------------------------------------------------------------------

    def _is_our_registry(self, pid: int) -> bool:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        # A zombie's command line is empty, so it does not count: it has exited already.
        args = raw.decode(errors="replace").split("\0")
        if not args or Path(args[0]).name != "java":
            return False
        return f"-Dquarkus.config.locations={self._config_file}" in args

    def _running_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            pid = int(self._pid_file.read_text().strip())
            if self._is_our_registry(pid):
                return pid
        # The pid file may be gone while the registry still runs (deleted by hand, or a start
        # interrupted right after the fork); look for it rather than start a second one.
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and self._is_our_registry(int(entry.name)):
                return int(entry.name)
        return None

    def _wait_until_ready(self, pid: int, port: int, *, started_here: bool) -> None:
        """Return once the registry reports ready; raise if it exits or stalls."""
        ready_url = f"http://{HOST}:{port}/health/ready"
        deadline = time.monotonic() + self.start_timeout
        last_error = "the port never accepted a connection"
        while True:
            if not self._is_our_registry(pid):
                raise LocalStackError(
                    f"The schema registry (pid {pid}) exited while starting. "
                    f"The end of its log, {self.log_file}:\n{self._log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            problem = _readiness_problem(ready_url, timeout=max(0.2, min(remaining, 5.0)))
            if problem is None:
                return
            last_error = problem
            time.sleep(min(0.1, max(remaining, 0.0)))

        tail = self._log_tail()
        if started_here:
            # Leave no half-started registry behind; the next `up` starts afresh.
            self._run_script("registry-stop.sh", str(self.state_dir), "5", check=False)
            what = "It has been stopped again"
        else:
            what = "It is still running; stop it with `lineage down`"
        raise LocalStackError(
            f"The schema registry (pid {pid}) was not ready on {HOST}:{port} within "
            f"{self.start_timeout:g} s ({last_error}). {what}. On a slow machine raise the "
            f"start timeout. The end of its log, {self.log_file}:\n{tail}"
        )

    def _log_tail(self) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 64 * 1024))
                lines = log.read().decode(errors="replace").splitlines()
        except OSError:
            return "    (no log was written)"
        # Java stack frames push the message that names the cause out of a short tail.
        kept = [line for line in lines if line.strip() and not _STACK_FRAME.match(line)]
        tail = kept[-_LOG_TAIL_LINES:]
        return "\n".join(f"    {line}" for line in tail) or "    (the log is empty)"

    # -- port ------------------------------------------------------------------------------

    def _read_port(self) -> int | None:
        try:
            return int(json.loads(self._ports_file.read_text())["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _port(self) -> int:
        """The port this state folder's registry listens on: the stored one, else a new one.

        Kept across restarts so that a configured LINEAGE_SCHEMA_REGISTRY_URL stays valid
        after ``lineage down`` and ``lineage up``.
        """
        port = self._read_port()
        if port is not None:
            if not _bindable(port):
                raise LocalStackError(
                    f"port {port} is in use by another process, so the local schema registry "
                    f"of {self.state_dir} cannot listen on it again (it keeps its port so "
                    f"that clients find it at the same URL). Stop the process that holds port "
                    f"{port}, or move the registry to a new free port: run `lineage down`, "
                    f"delete {self._ports_file} (the schemas are kept) and run `lineage up` "
                    f"again."
                )
            return port
        port = _free_port()
        self._write_atomically(self._ports_file, json.dumps({"port": port}) + "\n")
        return port

    def _port_of_running(self, pid: int) -> int:
        port = self._read_port()
        if port is None:
            raise LocalStackError(
                f"A schema registry of {self.state_dir} is running (pid {pid}) but its ports "
                f"file {self._ports_file} is missing; run `lineage down`, then `lineage up`."
            )
        return port

    # -- helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two `up` at once must not start two registries on one state folder.
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _write_url(self, url: str) -> None:
        self._write_atomically(self.url_file, url + "\n")

    @staticmethod
    def _write_atomically(path: Path, text: str) -> None:
        # Readers must never see a half-written file.
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)

    def _run_script(
        self, name: str, *args: str, check: bool = True, timeout: float = 600.0
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                [_bash(), str(self.deploy_dir / name), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LocalStackError(f"{name} could not be run: {exc}") from exc
        if check and done.returncode != 0:
            raise LocalStackError(_script_failure(name, done.stderr))
        return done

    def _download(self, progress: Callable[[str], None]) -> Path:
        """Run provision.sh for real, passing its progress lines on as they come."""
        script = str(self.deploy_dir / "provision.sh")
        messages: list[str] = []
        try:
            with subprocess.Popen(
                [_bash(), script, str(self.cache_dir)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ) as proc:
                assert proc.stderr is not None and proc.stdout is not None
                # stdout carries one line (the server's folder), so reading stderr to the end
                # first cannot block on a full stdout pipe.
                for line in proc.stderr:
                    if line.startswith(_PROGRESS_PREFIX):
                        progress(line[len(_PROGRESS_PREFIX) :].rstrip())
                    else:
                        messages.append(line)
                out = proc.stdout.read()
                returncode = proc.wait()
        except OSError as exc:
            raise LocalStackError(f"provision.sh could not be run: {exc}") from exc
        if returncode != 0 or not out.strip():
            raise LocalStackError(_script_failure("provision.sh", "".join(messages)))
        return Path(out.strip().splitlines()[-1])


def _base_url(port: int) -> str:
    return f"http://{HOST}:{port}{API_PATH}"


def _readiness_problem(url: str, timeout: float) -> str | None:
    """None if the registry's readiness check answers UP, else what went wrong."""
    try:
        with _LOCAL_OPENER.open(url, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        # 503 while a check (storage, import) is still DOWN.
        return f"the readiness check answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"the readiness check failed: {exc}"
    if isinstance(body, dict) and body.get("status") == "UP":
        return None
    return f"the readiness check answered {body!r}"


def _require(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        raise LocalStackError(hint)


def _bash() -> str:
    # Looked up on PATH like any tool, but a PATH without bash still finds the system's.
    return shutil.which("bash") or "/bin/bash"


def _script_failure(name: str, stderr: str) -> str:
    detail = stderr.strip() or "(it printed nothing)"
    return f"{name} failed:\n{detail}"


def _bindable(port: int) -> bool:
    """True if a listener could bind ``127.0.0.1:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the JVM does: connections lingering in TIME_WAIT do not block the port, a live
        # listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    """A port free on 127.0.0.1 now, chosen by the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
