"""Workers on one ClickHouse server migrate one at a time, under the migration lock."""

from __future__ import annotations

import threading
import uuid

import pytest

from lineage_processors.errors import StoreError
from lineage_processors.local.clickhouse import LocalClickHouse
from lineage_processors.store.connect import Store, open_store
from lineage_processors.store.migrations import (
    LOCK,
    MIGRATIONS,
    applied_versions,
    migrate,
    migration_lock,
    take_lock,
)


def fresh_database(server: LocalClickHouse) -> Store:
    url = server.url(f"lock_{uuid.uuid4().hex[:8]}")
    assert url is not None, "the test ClickHouse server is not running"
    return open_store(url)


def test_workers_migrating_at_once_take_turns_and_each_version_runs_once(
    clickhouse_server: LocalClickHouse,
) -> None:
    """Pass: three migrations of one new database started together all succeed (without
    the lock, the rebuild of migration 12 fails on a table another one created), exactly
    one of them applies the migrations, and the lock is gone afterwards."""
    stores = [fresh_database(clickhouse_server)]
    stores += [open_store(stores[0].url) for _ in range(2)]
    applied: list[list[int]] = []
    failures: list[BaseException] = []

    def run(store: Store) -> None:
        try:
            applied.append(migrate(store))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    try:
        assert failures == []
        assert sorted(len(a) for a in applied) == [0, 0, len(MIGRATIONS)]
        assert applied_versions(stores[0]) == {m.version for m in MIGRATIONS}
        tables = stores[0].query("SHOW TABLES").result_rows
        assert (LOCK,) not in tables
    finally:
        for s in stores:
            s.close()


def test_a_lock_left_by_a_killed_worker_is_named_with_the_way_out(
    clickhouse_server: LocalClickHouse,
) -> None:
    """Pass: while another holds the lock, a worker waits; past its wait it fails naming the
    holder and the statement that drops the lock; once dropped, migrating succeeds."""
    store = fresh_database(clickhouse_server)
    other = open_store(store.url)
    try:
        # A worker that took the lock and was killed: it is never released.
        assert take_lock(other, "host-a pid 4242")
        with pytest.raises(StoreError) as caught, migration_lock(store, wait=1.0):
            pass
        message = str(caught.value)
        assert "host-a pid 4242" in message and "has held the migration lock" in message
        assert f"DROP TABLE `{store.database}`.{LOCK}" in message
        store.command(f"DROP TABLE `{store.database}`.{LOCK}")
        assert len(migrate(store)) == len(MIGRATIONS)
    finally:
        store.close()
        other.close()
