"""Write row batches to ClickHouse, once per batch even when the same batch is retried."""

from __future__ import annotations

from clickhouse_connect.driver.exceptions import ClickHouseError

from processors.errors import StoreError
from processors.mapping import RowBatch
from processors.store.connect import Store


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
            try:
                self.store.client.insert(
                    table,
                    rows,
                    column_names=list(columns),
                    settings={"insert_deduplication_token": f"{dedup_token}/{table}"},
                )
            except ClickHouseError as exc:
                raise StoreError(f"insert into {table} failed: {exc}") from exc
