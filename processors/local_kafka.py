"""The local single-node Kafka broker behind ``lineage up | down | status``.

The Java and Maven work lives in the shell scripts of ``deploy/local/``: ``provision.sh``
fetches the broker's jars from Maven Central once, ``kafka-start.sh`` formats and starts a
combined broker+controller KRaft node, ``kafka-stop.sh`` stops it. :class:`LocalKafka` drives
them, picks and keeps the ports, waits until the broker answers, and turns every expected
failure into a :class:`~processors.errors.LocalStackError` that says what to do.

Files in the broker's state folder:

``bootstrap``          ``127.0.0.1:PORT`` while the broker is up; other code finds it here
``ports.json``         the client and controller ports, kept across restarts
``kafka.pid``          the JVM's pid (a hint only, see :meth:`LocalKafka.status`)
``kafka.log``          the current run's log (``kafka.log.1`` the previous run's)
``format.log``         output of formatting the storage, written on the first start only
``server.properties``  rendered from ``deploy/local/server.properties.in`` at every start
``data/``              the broker's logs and KRaft metadata
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from processors.errors import LocalStackError

HOST = "127.0.0.1"
DEFAULT_DEPLOY_DIR = Path(__file__).resolve().parents[1] / "deploy" / "local"

_SCRIPTS = ("provision.sh", "kafka-start.sh", "kafka-stop.sh")
_PROVISION_NOT_DONE = 3  # provision.sh --check: the jars are not in the cache yet
_PROGRESS_PREFIX = "==> "
# A clean shutdown of an idle single node takes well under a second; a loaded one flushes
# its logs first, which is worth waiting for rather than recovering them at the next start.
_STOP_TIMEOUT_S = 30
_LOG_TAIL_LINES = 15
_STACK_FRAME = re.compile(r"\s+(at |\.\.\. \d+ more)")

_JAVA_HINT = (
    "java was not found on PATH. The local Kafka broker runs on Java 17 or newer; install it, "
    "e.g. `apt-get install openjdk-17-jre-headless`, or point LINEAGE_KAFKA_BOOTSTRAP at an "
    "existing Kafka cluster instead."
)
_MVN_HINT = (
    "mvn (Apache Maven) was not found on PATH. It is needed once, to fetch the Kafka broker's "
    "jars from Maven Central; install it, e.g. `apt-get install maven`, or point "
    "LINEAGE_KAFKA_BOOTSTRAP at an existing Kafka cluster instead."
)


@dataclass(frozen=True)
class KafkaStatus:
    """What :meth:`LocalKafka.status` found."""

    running: bool
    pid: int | None
    bootstrap: str | None
    """``127.0.0.1:PORT`` while running, else ``None``."""
    log_file: Path


class LocalKafka:
    """Provision, start, stop and inspect the local Kafka broker of one state folder.

    ``state_dir`` is the broker's own folder (``Settings.kafka_state_dir``); ``cache_dir``
    holds the provisioned jars, shared by every state folder; ``deploy_dir`` holds the
    scripts (the repository's ``deploy/local`` unless given); ``start_timeout`` bounds, in
    seconds, how long :meth:`up` waits for the broker to answer.
    """

    def __init__(
        self,
        state_dir: Path,
        cache_dir: Path,
        deploy_dir: Path | None = None,
        start_timeout: float = 90.0,
    ) -> None:
        # Absolute and free of symlinks: the state folder's server.properties path is how a
        # running JVM is recognised as this folder's broker, and the scripts see it that way.
        self.state_dir = state_dir.expanduser().resolve()
        self.cache_dir = cache_dir.expanduser().resolve()
        self.deploy_dir = (deploy_dir or DEFAULT_DEPLOY_DIR).expanduser().resolve()
        self.start_timeout = start_timeout
        missing = [name for name in _SCRIPTS if not (self.deploy_dir / name).is_file()]
        if missing:
            raise LocalStackError(
                f"The local Kafka scripts are missing from {self.deploy_dir} "
                f"({', '.join(missing)}). They ship in the repository's deploy/local folder; "
                "run from a complete checkout, or set LINEAGE_KAFKA_BOOTSTRAP to use an "
                "existing Kafka cluster."
            )

    # -- files of the state folder ---------------------------------------------------------

    @property
    def log_file(self) -> Path:
        """The current (or last) run's broker log."""
        return self.state_dir / "kafka.log"

    @property
    def bootstrap_file(self) -> Path:
        """Holds ``127.0.0.1:PORT`` while the broker is up."""
        return self.state_dir / "bootstrap"

    @property
    def _pid_file(self) -> Path:
        return self.state_dir / "kafka.pid"

    @property
    def _ports_file(self) -> Path:
        return self.state_dir / "ports.json"

    @property
    def _config_file(self) -> Path:
        return self.state_dir / "server.properties"

    # -- public API ------------------------------------------------------------------------

    def provision(self, progress: Callable[[str], None] = print) -> Path:
        """Fetch the broker's jars into the cache folder unless already there; return them.

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
        """Start the broker unless it already runs; return its bootstrap address.

        Idempotent: a broker of this state folder that is running and answering is reused.
        On success the address is also written to :attr:`bootstrap_file`.
        """
        _require("java", _JAVA_HINT)
        libs = self.provision(progress)
        with self._lock():
            pid = self._running_pid()
            if pid is not None:
                port = self._port_of_running(pid)
                bootstrap = f"{HOST}:{port}"
                self._wait_until_answering(pid, port, started_here=False)
                self._write_bootstrap(bootstrap)
                progress(f"Kafka is already running at {bootstrap} (pid {pid})")
                return bootstrap

            port, controller_port = self._ports()
            bootstrap = f"{HOST}:{port}"
            progress(f"Starting Kafka at {bootstrap} (state in {self.state_dir})")
            started = self._run_script(
                "kafka-start.sh", str(libs), str(self.state_dir), str(port), str(controller_port)
            )
            printed = started.stdout.split()
            if not printed or not printed[-1].isdigit():
                raise LocalStackError(
                    f"kafka-start.sh did not report the broker's pid; see {self.log_file}"
                )
            pid = int(printed[-1])
            self._wait_until_answering(pid, port, started_here=True)
            self._write_bootstrap(bootstrap)
            progress(f"Kafka is up at {bootstrap} (pid {pid}, log {self.log_file})")
            return bootstrap

    def down(self) -> bool:
        """Stop the broker of this state folder; return True if one was running.

        Waits for a clean shutdown (bounded, then SIGKILL); no broker process of this state
        folder is left afterwards. The bootstrap file is removed either way.
        """
        if not self.state_dir.is_dir():
            return False
        with self._lock():
            stopped = self._run_script(
                "kafka-stop.sh",
                str(self.state_dir),
                str(_STOP_TIMEOUT_S),
                timeout=_STOP_TIMEOUT_S + 30,
            )
            self.bootstrap_file.unlink(missing_ok=True)
        return stopped.stdout.strip() == "stopped"

    def status(self) -> KafkaStatus:
        """Report whether this state folder's broker runs, its pid and bootstrap address.

        A pid file alone is not trusted: the process must be alive and be a ``kafka.Kafka``
        JVM started with this folder's ``server.properties``, so a stale pid file (after a
        crash or a reboot, the pid possibly reused) reads as not running.
        """
        pid = self._running_pid()
        bootstrap = None
        if pid is not None:
            ports = self._read_ports()
            bootstrap = f"{HOST}:{ports[0]}" if ports else None
        return KafkaStatus(
            running=pid is not None, pid=pid, bootstrap=bootstrap, log_file=self.log_file
        )

    # -- processes -------------------------------------------------------------------------

    def _is_our_broker(self, pid: int) -> bool:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        # A zombie's command line is empty, so it does not count: it has exited already.
        args = raw.decode(errors="replace").split("\0")
        if not args or Path(args[0]).name != "java":
            return False
        config = str(self._config_file)
        return ("kafka.Kafka", config) in itertools.pairwise(args)

    def _running_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            pid = int(self._pid_file.read_text().strip())
            if self._is_our_broker(pid):
                return pid
        # The pid file may be gone while the broker still runs (deleted by hand, or a start
        # interrupted right after the fork); look for it rather than start a second one.
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and self._is_our_broker(int(entry.name)):
                return int(entry.name)
        return None

    def _wait_until_answering(self, pid: int, port: int, *, started_here: bool) -> None:
        """Return once the broker answers a metadata request; raise if it exits or stalls."""
        bootstrap = f"{HOST}:{port}"
        deadline = time.monotonic() + self.start_timeout
        admin: AdminClient | None = None
        last_error = "the port never accepted a connection"
        while True:
            if not self._is_our_broker(pid):
                raise LocalStackError(
                    f"The Kafka broker (pid {pid}) exited while starting. "
                    f"The end of its log, {self.log_file}:\n{self._log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # A plain connect first: librdkafka would otherwise retry a refused port in the
            # background for as long as the client lives.
            if _accepts(port, timeout=min(remaining, 0.5)):
                if admin is None:
                    # log_level 0: connection errors while the broker warms up are expected
                    # and must not reach the terminal.
                    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
                try:
                    admin.list_topics(timeout=max(0.2, min(remaining, 5.0)))
                    return
                except KafkaException as exc:
                    last_error = f"metadata request failed: {exc.args[0]}"
            time.sleep(min(0.1, max(remaining, 0.0)))

        tail = self._log_tail()
        if started_here:
            # Leave no half-started broker behind; the next `up` starts afresh.
            self._run_script("kafka-stop.sh", str(self.state_dir), "5", check=False)
            what = "It has been stopped again"
        else:
            what = "It is still running; stop it with `lineage down`"
        raise LocalStackError(
            f"The Kafka broker (pid {pid}) did not answer on {bootstrap} within "
            f"{self.start_timeout:g} s ({last_error}). {what}. On a slow machine raise "
            f"LINEAGE_KAFKA_START_TIMEOUT. The end of its log, {self.log_file}:\n{tail}"
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

    # -- ports -----------------------------------------------------------------------------

    def _read_ports(self) -> tuple[int, int] | None:
        try:
            stored = json.loads(self._ports_file.read_text())
            return int(stored["port"]), int(stored["controller_port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _ports(self) -> tuple[int, int]:
        """The ports this state folder's broker listens on: the stored ones, else new ones.

        Kept across restarts so that clients holding the bootstrap address find the broker
        again after ``lineage down`` and ``lineage up``.
        """
        stored = self._read_ports()
        if stored is not None:
            for port in stored:
                if not _bindable(port):
                    raise LocalStackError(
                        f"port {port} is in use by another process, so the local Kafka broker "
                        f"of {self.state_dir} cannot listen on it again (it keeps its ports "
                        f"so that clients find it at the same address). Stop the process that "
                        f"holds port {port}, or move the broker to new free ports: run "
                        f"`lineage down`, delete {self._ports_file} (the data is kept) and run "
                        f"`lineage up` again; deleting {self.state_dir} starts over from empty."
                    )
            return stored
        port, controller_port = _free_ports(2)
        self._write_atomically(
            self._ports_file,
            json.dumps({"port": port, "controller_port": controller_port}) + "\n",
        )
        return port, controller_port

    def _port_of_running(self, pid: int) -> int:
        ports = self._read_ports()
        if ports is None:
            raise LocalStackError(
                f"A Kafka broker of {self.state_dir} is running (pid {pid}) but its ports "
                f"file {self._ports_file} is missing; run `lineage down`, then `lineage up`."
            )
        return ports[0]

    # -- helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two `lineage up` at once must not start two brokers on one state folder.
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _write_bootstrap(self, bootstrap: str) -> None:
        self._write_atomically(self.bootstrap_file, bootstrap + "\n")

    @staticmethod
    def _write_atomically(path: Path, text: str) -> None:
        # Readers (the CLI, the SDK) must never see a half-written file.
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
                # stdout carries one line (the libs folder), so reading stderr to the end
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


def _require(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        raise LocalStackError(hint)


def _bash() -> str:
    # Looked up on PATH like any tool, but a PATH without bash still finds the system's.
    return shutil.which("bash") or "/bin/bash"


def _script_failure(name: str, stderr: str) -> str:
    detail = stderr.strip() or "(it printed nothing)"
    return f"{name} failed:\n{detail}"


def _accepts(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _bindable(port: int) -> bool:
    """True if a listener could bind ``127.0.0.1:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the JVM does: connections of a just-stopped broker lingering in TIME_WAIT do not
        # block the port, a live listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 now, chosen by the kernel."""
    # All sockets stay open until every port is known, so the kernel cannot hand out one twice.
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            probe.bind((HOST, 0))
            ports.append(int(probe.getsockname()[1]))
    return ports
