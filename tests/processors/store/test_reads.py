"""The read pool on a real embedded store: locked sessions, limits, cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from lineage_processors.errors import QueryError
from lineage_processors.store.connect import Store
from lineage_processors.store.reads import ReadLimits, ReadPool

LIMITS = ReadLimits(seconds=20, memory=128 << 20, rows=1000, bytes=1 << 20, threads=1)


@pytest.fixture
def pool(store: Store) -> Iterator[ReadPool]:
    reads = ReadPool(store.session, store.session(), LIMITS, size=1)
    yield reads
    reads.close()


def test_a_read_session_cannot_raise_its_limits_or_write(store: Store, pool: ReadPool) -> None:
    """Pass: the session's limits are those given and a SETTINGS clause cannot change
    them; writes are refused; the writer's session keeps writing."""
    [row] = pool.read(
        "SELECT getSetting('max_threads'), getSetting('max_result_rows'), "
        "getSetting('os_thread_priority'), getSetting('readonly')"
    )[1]
    assert list(row) == [1, 1000, 19, 1]
    with pytest.raises(QueryError, match="readonly"):
        pool.read("SELECT 1 SETTINGS max_result_rows = 0")
    with pytest.raises(QueryError, match="read-only"):
        pool.read("INSERT INTO nodes (node_id) VALUES ('x')")
    with pytest.raises(QueryError, match="result too large"):
        pool.read("SELECT number FROM numbers(5000)")
    with pytest.raises(QueryError, match="LINEAGE_READ_MAX_MEMORY"):
        pool.read("SELECT length(groupArray(number)) FROM numbers(1e8)")
    store.command("INSERT INTO nodes (node_id) VALUES ('dataset:x@1')")
    assert pool.read("SELECT count() FROM nodes WHERE node_id = 'dataset:x@1'")[1] == [(1,)]


def scans_running(store: Store) -> int:
    found = store.query(
        "SELECT count() FROM system.processes WHERE position(query, 'numbers(5e10)') > 0 "
        "AND position(query, 'system.processes') = 0"
    )
    return int(found.result_rows[0][0])


def test_a_cancelled_read_stops_and_one_waiting_never_starts(store: Store, pool: ReadPool) -> None:
    """Pass: with the only session busy on a long scan, a second read waits; both are
    cancelled: the scan stops at once with "cancelled", the waiting one never runs."""
    outcomes: dict[str, str] = {}

    def run(tag: str, sql: str) -> None:
        try:
            pool.read(sql, tag=tag)
            outcomes[tag] = "answered"
        except QueryError as exc:
            outcomes[tag] = str(exc)

    scan = threading.Thread(target=run, args=("scan", "SELECT count() FROM numbers(5e10)"))
    scan.start()
    deadline = time.monotonic() + 30
    while not scans_running(store):  # then it holds the only session: the next read waits
        assert time.monotonic() < deadline, outcomes
        time.sleep(0.05)
    waiting = threading.Thread(target=run, args=("waiting", "SELECT 1"))
    waiting.start()
    started = time.monotonic()
    pool.cancel("waiting")
    pool.cancel("scan")
    scan.join(15)
    waiting.join(15)
    assert time.monotonic() - started < 15
    assert "cancelled" in outcomes["scan"], outcomes
    assert "cancelled" in outcomes["waiting"], outcomes
    assert pool.read("SELECT 2")[1] == [(2,)]
