"""Migration 7: how far derived state has followed each partition."""

from __future__ import annotations

from lineage_processors.store.migrations.base import Migration

MIGRATION = Migration(
    7,
    "how far derived state has followed each partition",
    (
        """
        CREATE TABLE IF NOT EXISTS derived_progress (
            topic LowCardinality(String),
            partition UInt32,
            offset UInt64,
            at DateTime64(3, 'UTC')
        )
        -- One live row per partition: the highest offset whose rows the derived
        -- steps (attribution, closures, tag impacts) have run over. A worker starting
        -- takes up from there, whoever stored the rows after it.
        ENGINE = ReplacingMergeTree(offset)
        ORDER BY (topic, partition)
        """,
    ),
)
