"""Migration 6: dead letters, recorded beside the DLQ topic."""

from __future__ import annotations

from lineage_processors.store.migrations.base import DEDUP, Migration

MIGRATION = Migration(
    6,
    "dead letters, recorded beside the DLQ topic",
    (
        f"""
        CREATE TABLE IF NOT EXISTS dead_letters (
            stage LowCardinality(String),
            error_class LowCardinality(String),
            error String,
            record_key String,
            record_bytes UInt32,
            dead_at DateTime64(3, 'UTC'),
            src_topic LowCardinality(String),
            src_partition UInt32,
            src_offset UInt64 CODEC(Delta, ZSTD(1))
        )
        -- One row per record sent to the DLQ, keyed by where it was read: a worker
        -- reading it again (a restart, a replay) finds it here and does not send it
        -- twice, and "what failed on this partition, and why" is a key lookup.
        ENGINE = ReplacingMergeTree
        ORDER BY (src_topic, src_partition, src_offset)
        -- The DLQ topic holds the bytes; this is their index, kept 90 days.
        TTL toDateTime(dead_at) + INTERVAL 90 DAY
        {DEDUP}
        """,
    ),
)
