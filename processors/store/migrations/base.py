"""What a migration is, and the pieces of SQL several migrations share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One step of the store's schema: ``schema_migrations`` records its version and name."""

    version: int
    name: str
    statements: tuple[str, ...]


# ReplacingMergeTree everywhere: rows carry natural keys, so a batch replayed after a crash
# collapses onto the rows it wrote the first time. non_replicated_deduplication_window makes
# single-node ClickHouse (and chDB) honour insert deduplication tokens too, so a retried
# insert of the same batch is dropped outright rather than merged away later.
DEDUP = "SETTINGS non_replicated_deduplication_window = 10000"


def source_columns(table: str) -> str:
    """The statement that stamps ``table``'s rows with the Kafka record they came from."""
    return f"""
        ALTER TABLE {table}
            ADD COLUMN IF NOT EXISTS src_topic LowCardinality(String) DEFAULT '',
            ADD COLUMN IF NOT EXISTS src_partition UInt32 DEFAULT 0,
            -- Offsets grow within a partition: a delta codec stores them in a few bits.
            ADD COLUMN IF NOT EXISTS src_offset UInt64 DEFAULT 0 CODEC(Delta, ZSTD(1)),
            ADD INDEX IF NOT EXISTS by_source_offset src_offset TYPE minmax GRANULARITY 1
    """
