"""Bring a store's schema up to date: the migrations it has not run, then every view.

``schema_migrations`` records each migration a store has run (its version and name); the
migrations themselves are in ``lineage_processors.store.migrations``, the views' current
definitions in ``lineage_processors.store.views``.

On a ClickHouse server, workers started together would migrate together, and a migration
that rebuilds a table (copy, exchange, drop) is not safe to run twice at once. So one worker
migrates at a time, holding a lock: the table ``schema_migrations_lock``, which only one
``CREATE TABLE`` can make; the others wait for it to go, then find the work done. As with
other migration tools' lock tables, a holder killed mid-migration leaves it behind: the
waiting workers say so, and it is dropped by hand. (An embedded store has one process.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator

from lineage_processors.errors import StoreError
from lineage_processors.store.connect import Store
from lineage_processors.store.migrations import MIGRATIONS, Migration
from lineage_processors.store.views import VIEWS, View

log = logging.getLogger(__name__)

LOCK = "schema_migrations_lock"
# How long a worker waits for another to migrate before it gives up and says why. Rebuilds
# of a large store's projections take minutes.
LOCK_WAIT_SECONDS = 900.0
_LOCK_REPORT_SECONDS = 30.0


def applied_versions(store: Store) -> set[int]:
    """The versions of the migrations ``store`` has run."""
    rows = store.query("SELECT version FROM schema_migrations FINAL").result_rows
    return {int(r[0]) for r in rows}


@contextlib.contextmanager
def migration_lock(
    store: Store,
    wait: float = LOCK_WAIT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the store's migration lock (see the module's docstring) while the body runs."""
    holder = f"{socket.gethostname()} pid {os.getpid()}"
    started = clock()
    reported = started
    while not take_lock(store, holder):
        now = clock()
        held = _holder(store)
        if now - started > wait:
            raise StoreError(
                f"another worker ({held}) has held the migration lock of database "
                f"{store.database!r} for over {wait:.0f}s. If no worker is migrating (one was "
                f"killed while it did), drop the lock: DROP TABLE `{store.database}`.{LOCK}"
            )
        if now - reported >= _LOCK_REPORT_SECONDS:
            log.warning("waiting for %s to finish migrating the store", held)
            reported = now
        pause(0.5)
    try:
        yield
    finally:
        store.command(f"DROP TABLE IF EXISTS {LOCK}")


def take_lock(store: Store, holder: str) -> bool:
    """Take the migration lock for ``holder`` if nobody has it; True if taken."""
    try:
        store.command(
            f"CREATE TABLE {LOCK} (holder String, since DateTime64(3, 'UTC') DEFAULT now64(3)) "
            "ENGINE = Memory"
        )
    except StoreError as exc:
        if "TABLE_ALREADY_EXISTS" in str(exc):
            return False
        raise
    store.insert_rows(LOCK, [[holder]], ["holder"])
    return True


def _holder(store: Store) -> str:
    with contextlib.suppress(StoreError):
        rows = store.query(f"SELECT holder, since FROM {LOCK} LIMIT 1").result_rows
        if rows:
            return f"{rows[0][0]}, since {rows[0][1]:%Y-%m-%d %H:%M:%S} UTC"
    return "a worker"


def migrate(
    store: Store,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    views: tuple[View, ...] = VIEWS,
) -> list[int]:
    """Apply every migration not yet recorded, then create every view whose migration has run
    as its file defines it now; returns the versions applied now. On a server, under the
    migration lock."""
    if store.embedded:
        return _migrate(store, migrations, views)
    with migration_lock(store):
        return _migrate(store, migrations, views)


def _migrate(store: Store, migrations: tuple[Migration, ...], views: tuple[View, ...]) -> list[int]:
    store.command(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version UInt32,
            name String,
            applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
        )
        -- Several workers may migrate at once on a server; one row per version survives.
        ENGINE = ReplacingMergeTree ORDER BY version
        """
    )
    done = applied_versions(store)
    ran = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        for statement in migration.statements:
            store.command(statement)
        store.insert_rows(
            "schema_migrations", [[migration.version, migration.name]], ["version", "name"]
        )
        done.add(migration.version)
        ran.append(migration.version)
        # Before the next migration runs, which may load a dictionary reading one of them.
        _create(store, (v for v in views if v.requires == migration.version))
    # The others as their files say now, whatever text the store held for them.
    _create(store, (v for v in views if v.requires in done and v.requires not in ran))
    return ran


def _create(store: Store, views: Iterable[View]) -> None:
    for view in views:
        store.command(view.statement())
