"""Open the ClickHouse store named by ``LINEAGE_CLICKHOUSE_URL`` through clickhouse-connect.

``chdb:///path`` opens the embedded engine in this process, holding the folder's lock
(``lineage_processors.store.owner``); ``http(s)://user:password@host:port/database`` talks to
a ClickHouse server. :class:`Store` is the one way into either: rows reach the store through
its insert methods only.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from clickhouse_connect.driver.query import QueryResult

from lineage_collector.security import NO_SECRET, Secret
from lineage_processors.errors import StoreError
from lineage_processors.settings import WorkerSettings
from lineage_processors.store.owner import URL_HELP, chdb_path, take_lock, write_owner
from lineage_processors.worker.memory import release_library_pages

DEFAULT_DATABASE = "lineage"

# Engine settings of embedded chDB, which shares the worker's memory. ClickHouse sizes its
# caches for a server owning the machine (5 GiB each for marks, primary keys and index marks);
# here they hold what the worker's own reads touch (recent parts, a node's edges), so a few
# tens of MB each are plenty, and a long-running worker cannot grow past them as data grows.
CHDB_OPTIONS: dict[str, int] = {
    "mark_cache_size": 64 << 20,
    "index_mark_cache_size": 32 << 20,
    "primary_index_cache_size": 64 << 20,
    "query_condition_cache_size": 16 << 20,
    "compiled_expression_cache_size": 16 << 20,
}

# WorkerSettings of the worker's own sessions of an embedded store. Its statements are many and
# small (a batch is ten thousand rows), and its threads and ClickHouse's merges, all in the
# one process, keep the cores busy already: run on two threads, a statement cost more CPU
# (aggregation states merged again, threads woken) for no gain in throughput. A server has
# cores of its own and keeps its defaults. Queries people send to the worker set their own.
WORKER_SESSION: dict[str, Any] = {"max_threads": 1}


def redact(url: str) -> str:
    """The URL with any password replaced, safe for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class Store:
    """An open ClickHouse store: a clickhouse-connect client plus the database it uses.

    Statements go through :meth:`command` and :meth:`query`, rows through :meth:`insert_rows`
    and :meth:`insert_avro`: each turns the client's errors into StoreError.
    """

    def __init__(
        self,
        client: Client,
        url: str,
        database: str,
        lock: TextIO | None,
        connect: Callable[[], Client] | None = None,
    ) -> None:
        self.client = client
        self.url = url
        self.database = database
        self._lock = lock
        self._connect = connect

    @property
    def embedded(self) -> bool:
        return urlsplit(self.url).scheme == "chdb"

    def session(self) -> Store:
        """Another connection to this store, with a session of its own: for work that runs
        beside this connection's, on another thread. Temporary tables are per session, and
        chDB runs the queries of different connections at the same time."""
        if self._connect is None:
            raise StoreError(f"{self!r} cannot open another session")
        return Store(self._connect(), self.url, self.database, None, self._connect)

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply ``settings`` to every statement of this connection from now on."""
        for key, value in settings.items():
            self.client.set_client_setting(key, value)

    @property
    def read_only_login(self) -> bool:
        """True when the server made this login read-only (its profile's ``readonly``): it
        can change no setting, and its profile holds the limits."""
        setting = self.client.server_settings.get("readonly")
        return setting is not None and str(setting.value) != "0"

    def __repr__(self) -> str:
        return f"Store({redact(self.url)!r}, database={self.database!r})"

    def advertise(self, role: str, query_url: str = "") -> None:
        """Record in the lock file who holds the store and where it answers queries."""
        if self._lock is not None:
            write_owner(self._lock, role, query_url)

    def command(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Any:
        try:
            return self.client.command(sql, parameters=parameters, settings=settings)
        except ClickHouseError as exc:
            raise StoreError(f"ClickHouse refused a command: {exc}") from exc

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> QueryResult:
        try:
            return self.client.query(sql, parameters=parameters, settings=settings)
        except ClickHouseError as exc:
            raise StoreError(f"ClickHouse refused a query: {_short(exc)}") from exc

    def insert_rows(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        columns: Sequence[str],
        *,
        column_oriented: bool = False,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Insert ``rows`` of ``columns`` into ``table`` (``column_oriented``: ``rows`` holds
        one sequence per column instead). A refusal is a StoreError."""
        try:
            self.client.insert(
                table,
                rows,
                column_names=list(columns),
                column_oriented=column_oriented,
                settings=settings,
            )
        except ClickHouseError as exc:
            raise StoreError(f"insert into {table} failed: {exc}") from exc

    def insert_avro(self, table: str, body: bytes, settings: dict[str, Any] | None = None) -> None:
        """Insert an Avro object container ``body`` into ``table``, decoded by ClickHouse. A
        refusal is a StoreError."""
        try:
            self.client.raw_insert(table, insert_block=body, fmt="Avro", settings=settings)
        except ClickHouseError as exc:
            raise StoreError(f"insert into {table} failed: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()
            self._lock = None


def _short(exc: BaseException) -> str:
    """First line of a ClickHouse error, without the stack trace servers append."""
    text = str(exc).strip()
    return text.split("\nStack trace", 1)[0].splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class ServerAccess:
    """How to authenticate to a ClickHouse server and check its TLS certificate."""

    password: Secret = NO_SECRET
    """Used instead of a password in the URL (which then need hold none)."""
    ca_file: Path | None = None
    """PEM of the CA that signed an ``https://`` server's certificate; None: the system's."""
    verify: bool = True


def open_configured(settings: WorkerSettings, *, role: str = "lineage") -> Store:
    """Open the store ``settings`` name, with their ClickHouse credentials and TLS settings."""
    access = ServerAccess(
        settings.clickhouse_password, settings.clickhouse_ca_file, settings.clickhouse_verify
    )
    return open_store(settings.effective_clickhouse_url, role=role, access=access)


def open_reader(settings: WorkerSettings) -> Store | None:
    """A session of the server store logged in as LINEAGE_CLICKHOUSE_READER, or None when
    no reader is configured (or the store is embedded, which has no users)."""
    url = settings.effective_clickhouse_url
    if not settings.clickhouse_reader or chdb_path(url) is not None:
        return None
    parts = urlsplit(url)
    netloc = quote(settings.clickhouse_reader, safe="") + "@" + (parts.hostname or "localhost")
    if parts.port:
        netloc += f":{parts.port}"
    access = ServerAccess(
        settings.clickhouse_reader_password, settings.clickhouse_ca_file, settings.clickhouse_verify
    )
    return _open_server(urlunsplit(parts._replace(netloc=netloc)), access, create=False)


def open_store(url: str, *, role: str = "lineage", access: ServerAccess | None = None) -> Store:
    """Open (without migrating) the store at ``url``; ``role`` names us in the chDB lock.

    ``access`` applies to a ClickHouse server (``http(s)://``) only.
    """
    scheme = urlsplit(url).scheme
    if scheme == "chdb":
        return _open_chdb(url, role)
    if scheme in ("http", "https"):
        return _open_server(url, access or ServerAccess())
    raise StoreError(
        f"LINEAGE_CLICKHOUSE_URL {redact(url)!r} has unknown scheme {scheme or '(none)'!r}: "
        f"{URL_HELP}"
    )


def _open_chdb(url: str, role: str) -> Store:
    data = chdb_path(url)
    assert data is not None
    lock = take_lock(data, url, role)

    def connect() -> Client:
        client = clickhouse_connect.get_client(dsn=f"chdb://{data}", chdb_options=CHDB_OPTIONS)
        client.command(f"CREATE DATABASE IF NOT EXISTS {DEFAULT_DATABASE}")
        client.database = DEFAULT_DATABASE
        return client

    try:
        client = connect()
    except Exception as exc:
        lock.close()
        if "already initialized with path" in str(exc):
            raise StoreError(
                f"this process already has another embedded store open; chDB allows one "
                f"data folder per process ({url})"
            ) from None
        raise StoreError(f"cannot open the embedded store {url}: {_short(exc)}") from exc
    # The engine is up: what its start-up alone touched of its library need not stay resident.
    library = getattr(sys.modules.get("chdb._chdb"), "__file__", None)
    if library:
        release_library_pages(library)
    return Store(client, url, DEFAULT_DATABASE, lock, connect)


def _open_server(url: str, access: ServerAccess, *, create: bool = True) -> Store:
    """``create``: make the database if it is missing (a read-only user may not)."""
    parts = urlsplit(url)
    database = parts.path.strip("/") or DEFAULT_DATABASE
    shown = redact(url)
    password = access.password.reveal() or unquote(parts.password or "")
    # Whatever a server or a TLS library says back is shown without any password in it.
    hidden = [p for p in (password, parts.password or "") if p]
    tls: dict[str, Any] = {}
    if parts.scheme == "https":
        tls["verify"] = access.verify
        if access.ca_file is not None:
            if not access.ca_file.is_file():
                raise StoreError(
                    f"LINEAGE_CLICKHOUSE_CA_FILE={str(access.ca_file)!r} is not a readable "
                    "file: point it at the PEM of the CA that signed the server's certificate"
                )
            tls["ca_cert"] = str(access.ca_file)

    def connect() -> Client:
        # Each client has a session id of its own (clickhouse-connect makes one up).
        client = clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            username=unquote(parts.username or "") or "default",
            password=password,
            secure=parts.scheme == "https",
            connect_timeout=5,
            send_receive_timeout=60,
            **tls,
        )
        client.database = database
        return client

    try:
        client = connect()
        # Until it exists, naming the database on a request fails it, CREATE included.
        client.database = None
    except ClickHouseError as exc:
        raise StoreError(
            f"ClickHouse at {shown} is unreachable: {_hide(_short(exc), hidden)}. Is the "
            "server running, and are LINEAGE_CLICKHOUSE_URL, LINEAGE_CLICKHOUSE_PASSWORD and "
            "LINEAGE_CLICKHOUSE_CA_FILE right?"
        ) from None
    try:
        if create:
            client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        client.database = database
    except ClickHouseError as exc:
        raise StoreError(
            f"ClickHouse at {shown} refused to use database {database!r}: "
            f"{_hide(_short(exc), hidden)}"
        ) from None
    return Store(client, url, database, None, connect)


def _hide(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
