"""How the store's tables are merged, and what a merge holds in memory."""

from __future__ import annotations

import threading

from lineage_processors.store.connect import Store
from lineage_processors.store.migrations.m015_column_by_column_merges import (
    MERGED_COLUMN_BY_COLUMN as COLUMN_BY_COLUMN,
)
from lineage_processors.store.migrations.m016_small_compressed_blocks import (
    SMALL_BLOCK_BYTES,
    SMALL_BLOCKS,
)

BATCHES, ROWS = 6, 50_000


def table_settings(store: Store, names: tuple[str, ...]) -> dict[str, dict[str, str]]:
    rows = store.query(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() "
        "AND name IN {names:Array(String)}",
        {"names": list(names)},
    ).result_rows
    return {
        name: dict(item.split(" = ", 1) for item in engine.split(" SETTINGS ", 1)[1].split(", "))
        for name, engine in rows
    }


def test_graph_tables_merge_column_by_column_from_the_first_small_part(store: Store) -> None:
    settings = table_settings(store, COLUMN_BY_COLUMN)
    assert sorted(settings) == sorted(COLUMN_BY_COLUMN)
    for name, table in settings.items():
        assert table["vertical_merge_algorithm_min_rows_to_activate"] == "1", name
        assert table["vertical_merge_algorithm_min_columns_to_activate"] == "1", name


def test_graph_tables_are_written_in_small_compressed_blocks(store: Store) -> None:
    settings = table_settings(store, SMALL_BLOCKS)
    assert sorted(settings) == sorted(SMALL_BLOCKS)
    for name, table in settings.items():
        assert table["max_compress_block_size"] == str(SMALL_BLOCK_BYTES), name


def merge_peak(store: Store, table: str) -> int:
    """Bytes the merge of BATCHES batches of edges into ``table`` held at most, as ClickHouse
    reports it while the merge runs."""
    store.command(f"SYSTEM STOP MERGES {table}")
    for batch in range(BATCHES):
        store.command(
            f"INSERT INTO {table} (src, dst, relation, role, event_time, run_id, event_id) "
            "SELECT concat('dataset:bench/ds-', toString(rand() % 100000), '@v', "
            "toString(number % 7)), concat('run:bench/train-', toString(n)), 'input', 'train', "
            "now64(3) - rand() % 1000000, concat('run-', toString(n)), toString(n) "
            f"FROM (SELECT number, {batch} * {ROWS} + number AS n FROM numbers({ROWS}))"
        )
    watcher = store.session()
    peak, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            rows = watcher.query(
                f"SELECT max(memory_usage) FROM system.merges WHERE table = '{table}'"
            ).result_rows
            peak[0] = max(peak[0], int(rows[0][0] or 0))

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        store.command(f"SYSTEM START MERGES {table}")
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    finally:
        done.set()
        thread.join()
        watcher.close()
    parts = store.query(
        f"SELECT count() FROM system.parts WHERE table = '{table}' AND active"
    ).result_rows
    assert parts == [(1,)], parts
    return peak[0]


def test_a_merge_of_edges_holds_far_less_than_with_the_default_block_size(store: Store) -> None:
    """Edges' projection makes a merge read every column of every part at once, each through
    buffers the size of a compressed block."""
    store.command("CREATE TABLE edges_default AS edges")
    store.command("ALTER TABLE edges_default MODIFY SETTING max_compress_block_size = 1048576")
    ours, default = merge_peak(store, "edges"), merge_peak(store, "edges_default")
    assert 0 < ours < 0.75 * default, (ours >> 20, default >> 20)
