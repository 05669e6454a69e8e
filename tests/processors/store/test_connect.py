"""The store's write methods, against a real embedded store: rows in, refusals as StoreError."""

from __future__ import annotations

import pytest

from lineage_processors.errors import StoreError
from lineage_processors.store.connect import Store


def test_rows_are_inserted_by_row_or_by_column(store: Store) -> None:
    columns = ["topic", "partition", "offset"]
    store.insert_rows("derived_progress", [("a", 0, 5), ("b", 1, 7)], columns)
    store.insert_rows("derived_progress", [["c"], [2], [9]], columns, column_oriented=True)
    rows = store.query("SELECT topic, partition, offset FROM derived_progress ORDER BY topic")
    assert rows.result_rows == [("a", 0, 5), ("b", 1, 7), ("c", 2, 9)]


def test_a_refused_insert_is_a_store_error_naming_the_table(store: Store) -> None:
    with pytest.raises(StoreError, match=r"^insert into no_such_table failed: "):
        store.insert_rows("no_such_table", [("a",)], ["x"])
    with pytest.raises(StoreError, match=r"^insert into inference_batches failed: "):
        store.insert_avro("inference_batches", b"not an Avro container")
