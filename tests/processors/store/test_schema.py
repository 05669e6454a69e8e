"""Bringing a store's schema up to date: from any earlier version, a store ends as a fresh one;
workers on one ClickHouse server migrate one at a time, under the migration lock."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_processors.errors import StoreError
from lineage_processors.local.clickhouse import LocalClickHouse
from lineage_processors.store.connect import Store, open_store
from lineage_processors.store.migrations import MIGRATIONS
from lineage_processors.store.schema import (
    LOCK,
    applied_versions,
    migrate,
    migration_lock,
    take_lock,
)

# The schema of a store at version 16, the last release whose migrations created the views.
RELEASED_16 = Path(__file__).with_name("released") / "schema_v16.sql"

Schema = dict[str, tuple[str, str]]


def schema(store: Store) -> Schema:
    """Every table, dictionary and view of the store: its engine and its create statement."""
    rows = store.query(
        "SELECT name, engine, create_table_query FROM system.tables "
        "WHERE database = currentDatabase()"
    ).result_rows
    return {name: (engine, create) for name, engine, create in rows}


@pytest.fixture(scope="module")
def fresh_schema(tmp_path_factory: pytest.TempPathFactory) -> Schema:
    store = open_store(f"chdb://{tmp_path_factory.mktemp('fresh') / 'chdb'}", role="test")
    try:
        migrate(store)
        return schema(store)
    finally:
        store.close()


@pytest.fixture
def empty_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"chdb://{tmp_path / 'chdb'}", role="test")
    yield store
    store.close()


def store_predictions(store: Store) -> None:
    """Predictions, some naming only their deployment, as the table has had them from
    migration 2: parts whose attribution columns later migrations compute from dictionaries."""
    store.command(
        "INSERT INTO inferences (inference_id, model_node, deployment, event_time, subject, "
        "inputs, input_datasets, output, event_id) "
        "SELECT toString(number), if(number % 2, 'model:churn@1.0', ''), "
        "'deployment:prod/api', now64(3), 'pseudonym-1', [], [], 'yes', toString(number) "
        "FROM numbers(100)"
    )


def test_a_store_of_the_last_release_migrates_to_the_schema_of_a_fresh_one(
    empty_store: Store, fresh_schema: Schema
) -> None:
    """Pass: a store built as release 16's migrations left it (views included, in their
    text of then) takes the migrations after 16 and the views' current definitions, and then
    holds exactly the schema of a store migrated from nothing."""
    for statement in RELEASED_16.read_text().split(";\n"):
        if statement.strip():
            empty_store.command(statement)
    empty_store.insert_rows(
        "schema_migrations",
        [[m.version, m.name] for m in MIGRATIONS if m.version <= 16],
        ["version", "name"],
    )
    store_predictions(empty_store)
    assert migrate(empty_store) == [m.version for m in MIGRATIONS if m.version > 16]
    assert schema(empty_store) == fresh_schema
    assert empty_store.query("SELECT count() FROM attributions").result_rows == [(100,)]


@pytest.mark.parametrize("version", [4, 10, 16])
def test_a_store_part_way_migrated_ends_as_a_fresh_one(
    empty_store: Store, fresh_schema: Schema, version: int
) -> None:
    """Pass: migrated up to ``version`` and holding predictions, then to the latest, the store
    has the schema of a fresh one. From 4, the projections of migrations 13 and 14 compute the
    columns of migration 5 from dictionaries whose source views exist by then."""
    migrate(empty_store, tuple(m for m in MIGRATIONS if m.version <= version))
    store_predictions(empty_store)
    migrate(empty_store)
    assert applied_versions(empty_store) == {m.version for m in MIGRATIONS}
    assert schema(empty_store) == fresh_schema
    assert empty_store.query("SELECT count() FROM attributions").result_rows == [(100,)]


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
