"""Write row batches to ClickHouse, once per batch even when the same batch is retried."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from lineage_processors.ingest.reference.mapping import TABLES, RowBatch, Source
from lineage_processors.store.connect import Store

TIME_COLUMNS = frozenset(
    {"event_time", "window_start", "window_end", "valid_from", "valid_until", "dead_at"}
)

# The columns naming the Kafka record each row came from. events_raw has always kept them
# under these names; every other table gets them appended by the sink.
SOURCE_COLUMNS: dict[str, tuple[str, str, str]] = {
    name: ("topic", "partition", "offset") if name == "events_raw" else SRC
    for name, SRC in ((n, ("src_topic", "src_partition", "src_offset")) for n in TABLES)
}

# ClickHouse collapses each block inserted into a Replacing or Aggregating MergeTree by its
# sort key before writing it (optimize_on_insert), which copies every row: about a tenth of a
# graph event's CPU. A repeat within one batch is then no different from a repeat in another
# batch, which the background merges collapse and FINAL reads as one, so inserts skip it.
# Predictions keep it: the views over them read without FINAL, a row per stored copy.
INSERT_SETTINGS: dict[str, Any] = {"optimize_on_insert": 0}
COLLAPSED_ON_INSERT = frozenset({"inferences"})


def insert_settings(table: str, token: str) -> dict[str, Any]:
    """The settings of an insert into ``table``, named by the deduplication ``token``."""
    merge = {} if table in COLLAPSED_ON_INSERT else INSERT_SETTINGS
    return {**merge, "insert_deduplication_token": token}


# The order a batch's tables are written in: raw events last, so that their presence means
# the whole batch landed (recovery relies on the order too).
WRITE_ORDER = (*(n for n in TABLES if n != "events_raw"), "events_raw")


def as_millis(values: Sequence[Any]) -> list[Any]:
    """Epoch milliseconds for DateTime64(3) columns, whether mappers gave ints or datetimes.

    The client looks at the first value to pick its conversion, so a column must not mix.
    """
    return [
        v if v is None or isinstance(v, int) else int(v.timestamp() * 1000 + 0.5) for v in values
    ]


def source_columns(sources: Sequence[Source], table: int) -> list[list[Any]]:
    """Topic, partition and offset of every row of table number ``table``, in row order."""
    topics: list[str] = []
    partitions: list[int] = []
    offsets: list[int] = []
    for s in sources:
        n = s.rows[table]
        if n:
            topics += [s.origin.topic] * n
            partitions += [s.origin.partition] * n
            offsets += [s.origin.offset] * n
    return [topics, partitions, offsets]


def dedup_token(sources: Sequence[Source], table: int, salt: str = "") -> str:
    """Name the rows of one table by the records they came from.

    The same records always give the same token, so ClickHouse drops a retried insert of
    them; rows from any other set of records (a recovery that left some out, say) get
    another token and are never mistaken for a retry.
    """
    digest = hashlib.blake2b(salt.encode(), digest_size=16)
    for s in sources:
        if s.rows[table]:
            o = s.origin
            digest.update(f"{o.topic}\0{o.partition}\0{o.offset}\0{s.rows[table]}\n".encode())
    return digest.hexdigest()


class ClickHouseSink:
    """Columnar inserts of a :class:`RowBatch`, one insert per table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def write(self, batch: RowBatch) -> None:
        """Insert every table's rows; returns once ClickHouse acknowledged all of them.

        Each insert carries a deduplication token naming the records it holds: if a retry
        inserts the very same rows again, ClickHouse drops the repeat instead of storing it
        twice. Raw events go last so that their presence means the whole batch landed.
        """
        names = list(TABLES)
        tables = batch.tables()
        for i in (names.index(n) for n in WRITE_ORDER):
            table, columns, rows = tables[i]
            if not rows:
                continue
            # Column by column: the client sends columns anyway, and zip does the turn in C.
            data = [
                as_millis(col) if name in TIME_COLUMNS else list(col)
                for name, col in zip(columns, zip(*rows, strict=True), strict=True)
            ]
            names_out = list(columns)
            if table != "events_raw":
                data += source_columns(batch.sources, i)
                names_out += SOURCE_COLUMNS[table]
            token = f"{table}/{dedup_token(batch.sources, i, batch.salt)}"
            try:
                self.store.insert_rows(
                    table,
                    data,
                    names_out,
                    column_oriented=True,
                    settings=insert_settings(table, token),
                )
            finally:
                # The client's insert context keeps this very list in a reference cycle that
                # only a full garbage collection breaks; emptied, the columns go right now
                # instead of piling up over several batches.
                data.clear()
