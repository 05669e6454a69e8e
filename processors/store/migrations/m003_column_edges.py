"""Migration 3: column lineage, from OpenLineage columnLineage facets."""

from __future__ import annotations

from lineage_processors.store.migrations.base import DEDUP, Migration

MIGRATION = Migration(
    3,
    "column lineage from OpenLineage columnLineage facets",
    (
        f"""
        CREATE TABLE IF NOT EXISTS column_edges (
            src_node String,
            src_field String,
            dst_node String,
            dst_field String,
            transformation LowCardinality(String),
            masking Bool,
            event_time DateTime64(3, 'UTC'),
            run_id String,
            event_id String
        )
        ENGINE = ReplacingMergeTree
        -- Like edges: "which columns made this column" starts at the output column, and
        -- one input reaching it both DIRECT and INDIRECT is two facts, so the
        -- transformation is part of the key.
        ORDER BY (dst_node, dst_field, src_node, src_field, transformation)
        {DEDUP}
        """,
    ),
)
