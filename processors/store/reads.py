"""People's reads: on sessions and threads of their own, with limits, cancelled when asked.

A reader never shares a store session or a thread with the writer, so nothing a read does
(a refused statement, a setting, a long scan) can reach an insert. Each read session is
locked before its first read: its limits are set, then ``readonly=1``, after which the
session can change neither (ClickHouse refuses any later ``SET`` or ``SETTINGS`` clause).
On a ClickHouse server a read-only user (``LINEAGE_CLICKHOUSE_READER``) carries the same
limits in its profile; without one, reads use the writer's login with the same settings.

Every read is tagged with a comment holding an id of its own, so that it can be found in
``system.processes`` and killed from another session when its HTTP client goes away.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lineage_processors.errors import QueryError, StoreError
from lineage_processors.settings import WorkerSettings
from lineage_processors.store.connect import Store, open_reader
from lineage_processors.store.read_only import check_read

log = logging.getLogger(__name__)

_TAG = "lineage-read:"
# The nice value of the threads a read runs on (19: the lowest priority).
READ_NICE = 19


@dataclass(frozen=True)
class ReadLimits:
    """What one read may take of the store: time, memory, result size and threads."""

    # The settings' defaults, declared once in lineage_collector.config.
    seconds: float = WorkerSettings.read_max_seconds
    memory: int = WorkerSettings.read_max_memory
    rows: int = WorkerSettings.read_max_rows
    bytes: int = WorkerSettings.read_max_bytes
    threads: int = WorkerSettings.read_max_threads

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> ReadLimits:
        return cls(
            settings.read_max_seconds,
            settings.read_max_memory,
            settings.read_max_rows,
            settings.read_max_bytes,
            settings.read_max_threads,
        )

    def session_settings(self) -> dict[str, Any]:
        """ClickHouse settings of a read session, ``readonly`` last: it locks the others."""
        return {
            "max_execution_time": self.seconds,
            "max_memory_usage": self.memory,
            "max_result_rows": self.rows,
            "max_result_bytes": self.bytes,
            "result_overflow_mode": "throw",
            "max_threads": self.threads,
            # Reads run at the lowest CPU priority: on cores shared with ingest, a long scan
            # takes what ingest leaves rather than half of it.
            "os_thread_priority": READ_NICE,
            "readonly": 1,
        }

    def explain(self, message: str) -> str:
        """A ClickHouse refusal put as what to do about it."""
        if "TOO_MANY_ROWS_OR_BYTES" in message or "Limit for result exceeded" in message:
            return (
                f"result too large: add LIMIT or narrow the question (a read answers at most "
                f"{self.rows:,} rows and {self.bytes:,} bytes: LINEAGE_READ_MAX_ROWS, "
                "LINEAGE_READ_MAX_BYTES)"
            )
        if "TIMEOUT_EXCEEDED" in message or "Timeout exceeded" in message:
            return (
                f"the query ran longer than {self.seconds:g} s, the limit of a read "
                "(LINEAGE_READ_MAX_SECONDS), and was stopped: narrow it or add LIMIT"
            )
        if "MEMORY_LIMIT_EXCEEDED" in message:
            return (
                f"the query needed more than {self.memory:,} bytes of memory, the limit of a "
                "read (LINEAGE_READ_MAX_MEMORY), and was stopped: narrow it or add LIMIT"
            )
        if "QUERY_WAS_CANCELLED" in message:
            return "the query was cancelled: its client went away"
        if "READONLY" in message or "readonly mode" in message:
            return "queries are read-only: writes, DDL and SET are refused. " + message
        return message


def session_opener(settings: WorkerSettings, store: Store) -> Callable[[], Store]:
    """How to open a read session of ``store``: as LINEAGE_CLICKHOUSE_READER on a server
    that has one, else another session of ``store``'s own login."""
    if store.embedded or not settings.clickhouse_reader:
        return store.session

    def open_as_reader() -> Store:
        reader = open_reader(settings)
        assert reader is not None
        return reader

    return open_as_reader


def lock_session(session: Store, limits: ReadLimits) -> Store:
    """Make ``session`` a read session: ``limits`` set, then locked by ``readonly=1``.

    A login the server made read-only already is left as it is: its profile holds the
    limits (``deploy/compose/clickhouse/users.d/lineage_reader.xml``), and it may not set any.
    """
    if not session.read_only_login:
        session.configure(limits.session_settings())
    return session


def read_on(
    session: Store,
    sql: str,
    parameters: dict[str, Any] | None,
    limits: ReadLimits,
    tag: str = "",
) -> tuple[list[str], Sequence[Sequence[Any]]]:
    """Run one checked read on a read session; QueryError says what was wrong."""
    statement = check_read(sql)
    marked = f"/* {_TAG}{tag or uuid.uuid4().hex} */ {statement}"
    try:
        result = session.query(marked, parameters=parameters)
    except StoreError as exc:
        raise QueryError(limits.explain(str(exc))) from None
    return list(result.column_names), result.result_rows


class ReadPool:
    """Read sessions, each on a thread of its own; a read waits for a free one.

    ``open_session`` opens a new store session for reading (locked here with ``limits``);
    ``killer`` is a session of the writer's login but of its own, used only to stop reads
    whose client went away (a read-only login may not see others' queries).
    """

    def __init__(
        self,
        open_session: Callable[[], Store],
        killer: Store,
        limits: ReadLimits,
        size: int,
    ) -> None:
        self.limits = limits
        self._sessions: queue.Queue[Store] = queue.Queue()
        self._all = [lock_session(open_session(), limits) for _ in range(size)]
        for session in self._all:
            self._sessions.put(session)
        self._killer = killer
        # Tags of reads whose client left: one that has not started yet never does. A read
        # forgets its tag when it ends, so this holds no more than the reads under way.
        self._cancelled: set[str] = set()
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="read")
        # Kills go on a thread of their own: never queued behind the reads they stop.
        self.kill_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-kill")

    @contextlib.contextmanager
    def _session(self) -> Iterator[Store]:
        session = self._sessions.get()
        try:
            yield session
        finally:
            self._sessions.put(session)

    def read(
        self, sql: str, parameters: dict[str, Any] | None = None, tag: str = ""
    ) -> tuple[list[str], Sequence[Sequence[Any]]]:
        """Run one read (blocking: call it on :attr:`executor`)."""
        with self._session() as session:
            if tag and tag in self._cancelled:
                # Its client left while it waited for a session: nobody wants it now.
                self._cancelled.discard(tag)
                raise QueryError("the query was cancelled: its client went away")
            try:
                return read_on(session, sql, parameters, self.limits, tag)
            finally:
                self._cancelled.discard(tag)

    def cancel(self, tag: str) -> None:
        """Stop the read tagged ``tag`` if it still runs, or keep it from starting
        (blocking)."""
        self._cancelled.add(tag)
        try:
            self._killer.command(
                "KILL QUERY WHERE position(query, concat({prefix:String}, {tag:String})) > 0 "
                "AND query_id != queryID() ASYNC",
                parameters={"prefix": _TAG, "tag": tag},
            )
        except StoreError as exc:
            log.warning("a read whose client went away could not be stopped: %s", exc)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.kill_executor.shutdown(wait=False, cancel_futures=True)
        for session in [*self._all, self._killer]:
            session.close()
