"""Write row batches to ClickHouse, once per batch even when the same batch is retried."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from processors.errors import StoreError
from processors.mapping import RowBatch
from processors.store.connect import Store

TIME_COLUMNS = frozenset({"event_time", "window_start", "window_end", "valid_from", "valid_until"})


def as_millis(values: Sequence[Any]) -> list[Any]:
    """Epoch milliseconds for DateTime64(3) columns, whether mappers gave ints or datetimes.

    The client looks at the first value to pick its conversion, so a column must not mix.
    """
    return [
        v if v is None or isinstance(v, int) else int(v.timestamp() * 1000 + 0.5) for v in values
    ]


class ClickHouseSink:
    """Columnar inserts of a :class:`RowBatch`, one insert per table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def write(self, batch: RowBatch, dedup_token: str) -> None:
        """Insert every table's rows; returns once ClickHouse acknowledged all of them.

        ``dedup_token`` names the batch by the Kafka offsets it came from: if a crash makes us
        insert the very same batch again, ClickHouse drops the repeat instead of storing it
        twice. Raw events go last so that their presence means the whole batch landed.
        """
        tables = batch.tables()
        ordered = [t for t in tables if t[0] != "events_raw"] + [
            t for t in tables if t[0] == "events_raw"
        ]
        for table, columns, rows in ordered:
            if not rows:
                continue
            # Column by column: the client sends columns anyway, and zip does the turn in C.
            data = [
                as_millis(col) if name in TIME_COLUMNS else list(col)
                for name, col in zip(columns, zip(*rows, strict=True), strict=True)
            ]
            try:
                self.store.client.insert(
                    table,
                    data,
                    column_names=list(columns),
                    column_oriented=True,
                    settings={"insert_deduplication_token": f"{dedup_token}/{table}"},
                )
            except ClickHouseError as exc:
                raise StoreError(f"insert into {table} failed: {exc}") from exc
