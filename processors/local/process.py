"""A local JVM service of one state folder, run by the shell scripts of one deploy folder.

The local Kafka broker (:mod:`lineage_processors.local.kafka`) and the local schema registry
(:mod:`lineage_processors.local.registry`) are both run this way. Each deploy folder holds three
scripts: ``provision.sh`` fetches the service from Maven Central into a cache folder once,
a start script starts the JVM detached and prints its pid, a stop script stops it.
:class:`LocalService` drives them: it picks free ports and keeps them in ``ports.json`` across
restarts, recognises the running JVM by its command line rather than trusting a pid file,
waits until the service answers, and turns every expected failure into a
:class:`~lineage_processors.errors.LocalStackError` that says what to do. The scripts are run
by :mod:`lineage_processors.local.scripts`, the ports kept by
:mod:`lineage_processors.local.ports`.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from lineage_processors.errors import LocalStackError
from lineage_processors.local.ports import HOST, KeptPorts, taken_port, write_atomically
from lineage_processors.local.processes import command_line, log_tail
from lineage_processors.local.scripts import (
    PROVISION_NOT_DONE,
    PROVISION_SCRIPT,
    Scripts,
    failure,
    require,
)
from lineage_processors.local.state import locked

# A clean shutdown of an idle service takes well under a second; a loaded Kafka broker flushes
# its logs first, which is worth waiting for rather than recovering them at the next start.
# The bound only matters for a wedged JVM.
_STOP_TIMEOUT_S = 30


@dataclass(frozen=True)
class Launched:
    """A service's JVM as :meth:`LocalService.start` left it: running, perhaps not answering."""

    pid: int
    port: int
    """The port clients use."""
    started: bool
    """True if started just now, False if it was running already."""


class Readiness(abc.ABC):
    """A service's readiness check, asked again and again while the service starts."""

    problem = "the port never accepted a connection"
    """What the last check found wrong; named when the service does not get ready in time."""

    @abc.abstractmethod
    def check(self, remaining: float) -> bool:
        """True once the service answers; ``remaining`` seconds are left to wait in all."""


class LocalService(abc.ABC):
    """Provision, start, stop and inspect one local JVM service of one state folder.

    ``state_dir`` is the service's own folder; ``cache_dir`` holds the provisioned files,
    shared by every state folder; ``deploy_dir`` holds the scripts; ``start_timeout`` bounds,
    in seconds, how long :meth:`up` waits for the service to answer.
    """

    # What each service sets.
    START_SCRIPT: ClassVar[str]
    STOP_SCRIPT: ClassVar[str]
    PID_FILE: ClassVar[str]
    LOG_FILE: ClassVar[str]
    CONFIG_FILE: ClassVar[str]
    """Its path on the JVM's command line is how the JVM is recognised as this folder's."""
    ADDRESS_FILE: ClassVar[str]
    """Holds the service's address (see :meth:`_address`) while it is up."""
    PORT_KEYS: ClassVar[tuple[str, ...]]
    """The names of its ports in ``ports.json``; the first is the one clients use."""
    KIND: ClassVar[str]
    """What it is, in messages: "Kafka broker"."""
    LABEL: ClassVar[str]
    """What progress messages call it: "Kafka"."""
    SHORT: ClassVar[str]
    """What it is for short: "broker"."""
    NOT_READY: ClassVar[str]
    """How a start that stalls is put: "did not answer on"."""
    TIMEOUT_SETTING: ClassVar[str]
    """What to raise on a slow machine."""
    JAVA_HINT: ClassVar[str]
    MVN_HINT: ClassVar[str]

    def __init__(
        self, state_dir: Path, cache_dir: Path, deploy_dir: Path, start_timeout: float
    ) -> None:
        # Absolute and free of symlinks: the state folder's configuration path is how a
        # running JVM is recognised as this folder's service, and the scripts see it that way.
        self.state_dir = state_dir.expanduser().resolve()
        self.cache_dir = cache_dir.expanduser().resolve()
        self.deploy_dir = deploy_dir.expanduser().resolve()
        self.start_timeout = start_timeout
        self._scripts = Scripts(self.deploy_dir)
        self._kept = KeptPorts(self.state_dir, self.PORT_KEYS)
        missing = self._scripts.missing((PROVISION_SCRIPT, self.START_SCRIPT, self.STOP_SCRIPT))
        if missing:
            raise LocalStackError(self._scripts_missing(", ".join(missing)))

    # -- what each service defines -----------------------------------------------------------

    @abc.abstractmethod
    def _scripts_missing(self, missing: str) -> str:
        """The message for a deploy folder without the scripts named in ``missing``."""

    @abc.abstractmethod
    def _port_taken(self, port: int) -> str:
        """The message for a kept port that another process holds now."""

    @abc.abstractmethod
    def _address(self, port: int) -> str:
        """What clients use to reach the service listening on ``port``."""

    @abc.abstractmethod
    def _readiness(self, port: int) -> Readiness:
        """A fresh readiness check of the service listening on ``port``."""

    @abc.abstractmethod
    def _is_our_command_line(self, args: list[str]) -> bool:
        """True if a java command line is this state folder's service."""

    # -- files of the state folder ---------------------------------------------------------

    @property
    def log_file(self) -> Path:
        """The current (or last) run's log."""
        return self.state_dir / self.LOG_FILE

    @property
    def _address_file(self) -> Path:
        return self.state_dir / self.ADDRESS_FILE

    @property
    def _pid_file(self) -> Path:
        return self.state_dir / self.PID_FILE

    @property
    def _ports_file(self) -> Path:
        return self._kept.file

    @property
    def _config_file(self) -> Path:
        return self.state_dir / self.CONFIG_FILE

    # -- public API ------------------------------------------------------------------------

    def provision(self, progress: Callable[[str], None] = print) -> Path:
        """Fetch the service into the cache folder unless already there; return its folder.

        Only the first call downloads (and needs ``mvn``); later ones return at once.
        """
        done = self._scripts.run(PROVISION_SCRIPT, "--check", str(self.cache_dir), check=False)
        if done.returncode == 0:
            return Path(done.stdout.strip())
        if done.returncode != PROVISION_NOT_DONE:
            raise LocalStackError(failure(PROVISION_SCRIPT, done.stderr))
        require("mvn", self.MVN_HINT)
        require("java", self.JAVA_HINT)
        return self._scripts.download(self.cache_dir, progress)

    def up(self, progress: Callable[[str], None] = print) -> str:
        """Start the service unless it already runs; return its address.

        Idempotent: a service of this state folder that is running and answering is reused.
        On success the address is also written to the state folder's address file.
        """
        require("java", self.JAVA_HINT)
        provisioned = self.provision(progress)
        with self._lock():
            return self.ready(self._launch(provisioned, progress, (), None), progress)

    def start(
        self,
        provisioned: Path,
        progress: Callable[[str], None] = print,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Launched:
        """Start the service unless it already runs, without waiting for it to answer.

        For services that can only answer once others run too (the nodes of a cluster):
        start each, then :meth:`ready` each. ``provisioned`` is what :meth:`provision`
        returned; ``args`` go to the start script after the ports, ``env`` is its whole
        environment (default: this process's).
        """
        with self._lock():
            return self._launch(provisioned, progress, args, env)

    def ready(self, launched: Launched, progress: Callable[[str], None] = print) -> str:
        """Wait until ``launched`` answers (see :meth:`start`); return its address.

        The address is also written to the state folder's address file.
        """
        self._wait_until_ready(launched.pid, launched.port, started_here=launched.started)
        address = self._address(launched.port)
        write_atomically(self._address_file, address + "\n")
        label = self.LABEL[:1].upper() + self.LABEL[1:]
        if launched.started:
            progress(f"{label} is up at {address} (pid {launched.pid}, log {self.log_file})")
        else:
            progress(f"{label} is already running at {address} (pid {launched.pid})")
        return address

    def _launch(
        self,
        provisioned: Path,
        progress: Callable[[str], None],
        args: Sequence[str],
        env: Mapping[str, str] | None,
    ) -> Launched:
        """Start the JVM detached unless it runs (the caller holds the lock)."""
        pid = self._running_pid()
        if pid is not None:
            return Launched(pid, self._port_of_running(pid), started=False)
        ports = self._ports()
        address = self._address(ports[0])
        progress(f"Starting {self.LABEL} at {address} (state in {self.state_dir})")
        started = self._scripts.run(
            self.START_SCRIPT,
            str(provisioned),
            str(self.state_dir),
            *map(str, ports),
            *args,
            env=env,
        )
        printed = started.stdout.split()
        if not printed or not printed[-1].isdigit():
            raise LocalStackError(
                f"{self.START_SCRIPT} did not report the {self.SHORT}'s pid; see {self.log_file}"
            )
        return Launched(int(printed[-1]), ports[0], started=True)

    def down(self) -> bool:
        """Stop the service of this state folder; return True if one was running.

        Waits for a clean shutdown (bounded, then SIGKILL); no process of the service of this
        state folder is left afterwards. The address file is removed either way.
        """
        if not self.state_dir.is_dir():
            return False
        with self._lock():
            stopped = self._scripts.run(
                self.STOP_SCRIPT,
                str(self.state_dir),
                str(_STOP_TIMEOUT_S),
                timeout=_STOP_TIMEOUT_S + 30,
            )
            self._address_file.unlink(missing_ok=True)
        return stopped.stdout.strip() == "stopped"

    def _running_address(self) -> tuple[int | None, str | None]:
        """The pid and address of this state folder's running service, or ``None`` each.

        A pid file alone is not trusted: the process must be alive and be a JVM started with
        this folder's configuration, so a stale pid file (after a crash or a reboot, the pid
        possibly reused) reads as not running.
        """
        pid = self._running_pid()
        if pid is None:
            return None, None
        ports = self._kept.read()
        return pid, self._address(ports[0]) if ports else None

    # -- processes -------------------------------------------------------------------------

    def _is_ours(self, pid: int) -> bool:
        args = command_line(pid)
        if args is None or Path(args[0]).name != "java":
            return False
        return self._is_our_command_line(args)

    def _running_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            pid = int(self._pid_file.read_text().strip())
            if self._is_ours(pid):
                return pid
        # The pid file may be gone while the service still runs (deleted by hand, or a start
        # interrupted right after the fork); look for it rather than start a second one.
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and self._is_ours(int(entry.name)):
                return int(entry.name)
        return None

    def _wait_until_ready(self, pid: int, port: int, *, started_here: bool) -> None:
        """Return once the service answers; raise if it exits or stalls."""
        deadline = time.monotonic() + self.start_timeout
        readiness = self._readiness(port)
        while True:
            if not self._is_ours(pid):
                raise LocalStackError(
                    f"The {self.KIND} (pid {pid}) exited while starting. "
                    f"The end of its log, {self.log_file}:\n{log_tail(self.log_file)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if readiness.check(remaining):
                return
            time.sleep(min(0.1, max(remaining, 0.0)))

        tail = log_tail(self.log_file)
        if started_here:
            # Leave no half-started service behind; the next `up` starts afresh.
            self._scripts.run(self.STOP_SCRIPT, str(self.state_dir), "5", check=False)
            what = "It has been stopped again"
        else:
            what = "It is still running; stop it with `lineage down`"
        raise LocalStackError(
            f"The {self.KIND} (pid {pid}) {self.NOT_READY} {HOST}:{port} within "
            f"{self.start_timeout:g} s ({readiness.problem}). {what}. On a slow machine raise "
            f"{self.TIMEOUT_SETTING}. The end of its log, {self.log_file}:\n{tail}"
        )

    # -- ports -----------------------------------------------------------------------------

    def kept_ports(self, avoid: Collection[int] = ()) -> tuple[int, ...]:
        """The ports kept for this state folder's service (in ``PORT_KEYS`` order); free ones,
        none of ``avoid``, are picked and kept first if there are none yet.

        Kept across restarts so that clients holding the address find the service again
        after ``lineage down`` and ``lineage up``.
        """
        return self._kept.keep(avoid)

    def _ports(self) -> tuple[int, ...]:
        """The ports the service is to listen on now: the kept ones, each free again."""
        ports = self.kept_ports()
        taken = taken_port(ports)
        if taken is not None:
            raise LocalStackError(self._port_taken(taken))
        return ports

    def _port_of_running(self, pid: int) -> int:
        ports = self._kept.read()
        if ports is None:
            raise LocalStackError(
                f"A {self.KIND} of {self.state_dir} is running (pid {pid}) but its ports "
                f"file {self._ports_file} is missing; run `lineage down`, then `lineage up`."
            )
        return ports[0]

    def _lock(self) -> AbstractContextManager[None]:
        # Two `lineage up` at once must not start two services on one state folder.
        return locked(self.state_dir)
