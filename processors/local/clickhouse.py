"""A local ClickHouse server: the ClickHouse engine chDB ships, serving ClickHouse's HTTP
interface from a process of its own, so that several workers can share one store.

Production points ``LINEAGE_CLICKHOUSE_URL`` at a ClickHouse server or cluster. On a machine
without one, this runs the same engine (chDB's, which is clickhouse-local's) as a server:
started through its command-line entry point, clickhouse-local opens ClickHouse's own HTTP
listener on ``SYSTEM START LISTEN HTTP`` and answers there like ``clickhouse-server`` does
(same handlers, same SQL, same MergeTree), for as long as the statement that follows runs.
That statement reads a named pipe, so it blocks until :meth:`LocalClickHouse.down` writes a
line to it; then the listener closes and the process exits.

Its limits, all of them fine for a local trial or a test of several workers: one process,
loopback only, HTTP only (no TLS), and no ``ON CLUSTER`` (there is no Keeper). Users are the
``default`` one, without a password, and any given in server-format files (a deployment's
``users.d``). The folder holds ``config/config.xml`` and ``config/users.xml`` (what
clickhouse-local reads from its working directory at start), ``data/``, the pid, the port and
the log.

Run by :class:`LocalClickHouse`; the serving process is ``python -m
lineage_processors.local.clickhouse FOLDER``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from lineage_processors.local import processes
from lineage_processors.local.ports import HOST

_PID = "clickhouse.pid"
_PORT = "http_port"
_LOG = "clickhouse.log"
_STOP = "stop.fifo"
_CONFIG = "config/config.xml"
_DATA = "data"
_MARK = "lineage_processors.local.clickhouse"  # how its command line is recognised

# Port 0: the kernel picks a free port (clickhouse-local accepts it with one listen_host),
# which the server writes to the port file once it listens.
_SERVER_CONFIG = f"""<clickhouse>
    <listen_host>{HOST}</listen_host>
    <http_port>0</http_port>
    <logger><level>warning</level></logger>
    <users_config>users.xml</users_config>
    <keep_alive_timeout>3</keep_alive_timeout>
</clickhouse>
"""
# The default user, as clickhouse-local has it; more users come from users.d/ (merged in by
# ClickHouse's config processor, as on a server).
_USERS_CONFIG = f"""<clickhouse>
    <profiles><default/></profiles>
    <quotas><default/></quotas>
    <users>
        <default>
            <password></password>
            <networks><ip>{HOST}</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
</clickhouse>
"""
_USERS_D = "config/users.d"


class LocalClickHouse:
    """Start, stop and find the local ClickHouse server of one folder.

    ``users`` are user files in the server's format (``<clickhouse><users>...``), such as a
    deployment's ``users.d/*.xml``; ``environment`` is added to the server's, for what those
    files read from it (``<password from_env="..."/>``).
    """

    def __init__(
        self,
        folder: Path,
        users: Sequence[Path] = (),
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.folder = folder.resolve()
        self.users = list(users)
        self.environment = dict(environment or {})

    @property
    def log_file(self) -> Path:
        return self.folder / _LOG

    def url(self, database: str = "lineage") -> str | None:
        """``http://127.0.0.1:PORT/DATABASE`` while the server runs, else None."""
        port = self._port() if self.pid() is not None else None
        return f"http://{HOST}:{port}/{database}" if port else None

    def pid(self) -> int | None:
        """The serving process's pid, if it runs."""
        try:
            pid = int((self.folder / _PID).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_server(pid, self.folder) else None

    def up(self, database: str = "lineage", timeout: float = 60.0) -> str:
        """Start the server unless it runs; wait until it answers; return its URL."""
        if (url := self.url(database)) is not None and _pings(url):
            return url
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in (_PID, _PORT):
            (self.folder / stale).unlink(missing_ok=True)
        users_d = self.folder / _USERS_D
        shutil.rmtree(users_d, ignore_errors=True)
        users_d.mkdir(parents=True)
        for user in self.users:
            shutil.copyfile(user, users_d / user.name)
        return processes.start_detached(
            [_MARK, str(self.folder)],
            env={**os.environ, **self.environment},
            log_file=self.log_file,
            pid_file=self.folder / _PID,
            what="the local ClickHouse server",
            ready=lambda: url if (url := self.url(database)) and _pings(url) else None,
            on_timeout=self.down,
            timeout=timeout,
        )

    def down(self, timeout: float = 30.0) -> bool:
        """Stop the server (it finishes what it is doing first); True if one ran."""
        pid = self.pid()
        if pid is None:
            return False
        processes.stop(
            pid,
            running=lambda: _is_server(pid, self.folder),
            ask=lambda: _ask_to_stop(self.folder / _STOP),
            timeout=timeout,
        )
        for done in (_PID, _PORT):
            (self.folder / done).unlink(missing_ok=True)
        return True

    def _port(self) -> int | None:
        try:
            return int((self.folder / _PORT).read_text().strip())
        except (OSError, ValueError):
            return None


def serve(folder: Path) -> int:
    """Serve ClickHouse's HTTP interface from ``folder`` until a line arrives on its pipe.

    Runs in a process of its own (chDB's engine starts once per process). Returns the exit
    status: 0 after a requested stop, 1 if the engine refused to start.
    """
    folder = folder.resolve()
    (folder / _CONFIG).parent.mkdir(parents=True, exist_ok=True)
    (folder / _CONFIG).write_text(_SERVER_CONFIG)
    (folder / _CONFIG).with_name("users.xml").write_text(_USERS_CONFIG)
    stop = folder / _STOP
    if not stop.is_fifo():
        stop.unlink(missing_ok=True)
        os.mkfifo(stop)
    port = folder / _PORT
    port.unlink(missing_ok=True)
    # The private entry point is the one that runs clickhouse-local's main(), where the
    # listeners live; chdb.connect() starts the engine without them. (Importing chdb opens
    # a connection of its own: done before the move below, it does not read our config.)
    engine = importlib.import_module("chdb._chdb")
    # clickhouse-local reads config.xml from its working directory when it starts.
    os.chdir(folder / _CONFIG.split("/")[0])

    script = "; ".join(
        (
            "SYSTEM START LISTEN HTTP",
            # A half-written port fails the starter's ping, which then reads it again.
            f"INSERT INTO FUNCTION file({_quote(str(port))}, 'TSV', 'port UInt16') "
            "SELECT getServerPort('http_port')",
            # Blocks until down() writes a line: the listener lives as long as this query.
            f"SELECT count() FROM file({_quote(str(stop))}, 'LineAsString')",
        )
    )
    result = engine.query(script, "TabSeparated", path=str(folder / _DATA))
    error = result.error_message()
    if error:
        # The engine appends its stack trace: not what someone starting a server needs.
        reason = error.split(", Stack trace", 1)[0].split("\n", 1)[0]
        print(f"the ClickHouse engine stopped with an error: {reason}", file=sys.stderr)
        return 1
    if result.bytes().strip() in (b"", b"0"):  # the pipe's read ended, but nobody wrote
        print("the ClickHouse engine stopped by itself; see the lines above", file=sys.stderr)
        return 1
    print("stopped on request", file=sys.stderr)
    return 0


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ask_to_stop(pipe: Path) -> None:
    # Non-blocking: if nobody reads the pipe (a server that is still starting, or wedged),
    # opening it for writing would hang; down() then falls back to SIGKILL.
    with contextlib.suppress(OSError):
        fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"stop\n")
        finally:
            os.close(fd)


def _is_server(pid: int, folder: Path) -> bool:
    # A pid file can outlive its process; only this folder's server counts.
    args = processes.command_line(pid) or []
    return _MARK in args and str(folder) in args


def _pings(url: str) -> bool:
    base = url.rsplit("/", 1)[0]
    try:
        with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m lineage_processors.local.clickhouse FOLDER", file=sys.stderr)
        sys.exit(2)
    sys.exit(serve(Path(sys.argv[1])))
