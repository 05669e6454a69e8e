"""How the store's tables are merged."""

from __future__ import annotations

from processors.store.connect import Store
from processors.store.migrations import MERGED_COLUMN_BY_COLUMN as COLUMN_BY_COLUMN


def test_graph_tables_merge_column_by_column_from_the_first_small_part(store: Store) -> None:
    rows = store.query(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() "
        "AND name IN {names:Array(String)}",
        {"names": list(COLUMN_BY_COLUMN)},
    ).result_rows
    settings = {
        name: dict(item.split(" = ", 1) for item in engine.split(" SETTINGS ", 1)[1].split(", "))
        for name, engine in rows
    }
    assert sorted(settings) == sorted(COLUMN_BY_COLUMN)
    for name, table in settings.items():
        assert table["vertical_merge_algorithm_min_rows_to_activate"] == "1", name
        assert table["vertical_merge_algorithm_min_columns_to_activate"] == "1", name
