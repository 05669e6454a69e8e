"""The views: each defined once, in its own file, and created by every migrate."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from lineage_processors.store import views
from lineage_processors.store.connect import Store, open_store
from lineage_processors.store.migrations import MIGRATIONS
from lineage_processors.store.schema import migrate
from lineage_processors.store.views import VIEWS


def store_views(store: Store) -> set[str]:
    rows = store.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'View'"
    ).result_rows
    return {r[0] for r in rows}


def test_every_view_file_is_listed_once_and_defines_the_view_it_is_named_after() -> None:
    files = sorted(
        f.name.removesuffix(".sql")
        for f in resources.files(views.__name__).iterdir()
        if f.name.endswith(".sql")
    )
    names = [v.name for v in VIEWS]
    assert sorted(names) == files
    assert len(set(names)) == len(names)
    for view in VIEWS:
        created = re.findall(r"^CREATE OR REPLACE VIEW (\w+) AS$", view.statement(), re.MULTILINE)
        assert created == [view.name]


def test_views_follow_the_migrations_they_require() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert all(v.requires in versions for v in VIEWS)
    assert [v.requires for v in VIEWS] == sorted(v.requires for v in VIEWS)


def test_a_migrated_store_holds_every_view_and_no_other(store: Store) -> None:
    assert store_views(store) == {v.name for v in VIEWS}


def test_a_store_part_way_holds_the_views_of_the_migrations_it_ran(tmp_path: Path) -> None:
    store = open_store(f"chdb://{tmp_path / 'chdb'}", role="test")
    try:
        migrate(store, MIGRATIONS[:10])
        assert store_views(store) == {v.name for v in VIEWS if v.requires <= 10}
        migrate(store)
        assert store_views(store) == {v.name for v in VIEWS}
    finally:
        store.close()


def test_every_migrate_gives_each_view_its_current_definition(store: Store) -> None:
    """Pass: views the store holds in another text (an older release's) are as their files
    say after the next migrate, with no migration left to run."""
    before = {v.name: store.query(f"SHOW CREATE TABLE {v.name}").result_rows[0][0] for v in VIEWS}
    for view in VIEWS:
        store.command(f"CREATE OR REPLACE VIEW {view.name} AS SELECT 1 AS stale")
    assert migrate(store) == []
    after = {v.name: store.query(f"SHOW CREATE TABLE {v.name}").result_rows[0][0] for v in VIEWS}
    assert after == before
