"""Migration 15: graph tables merged column by column."""

from __future__ import annotations

from lineage_processors.store.migrations.base import Migration

# The tables merged column by column however small their parts.
MERGED_COLUMN_BY_COLUMN = (
    "events_raw",
    "nodes",
    "properties",
    "subject_links",
    "tags",
    "deployments",
    "column_edges",
    "model_training",
)

MIGRATION = Migration(
    15,
    "graph tables merged column by column",
    # ClickHouse merges parts of under 131,072 rows, or of under 11 columns besides the
    # sort key, a whole row at a time: it holds a block of every column of every part
    # at once, up to 110 MB for a merge of six batches of events_raw, and the worker's
    # memory peaks when merges of several tables coincide. Column by column, the same
    # merges held 20-60 MB, and took less time. Tables with projections that merges
    # rebuild (edges, model_upstream, tag_impacts) are merged a row at a time whatever
    # is set here; inferences' parts are large enough already.
    tuple(
        f"ALTER TABLE {table} MODIFY SETTING "
        "vertical_merge_algorithm_min_rows_to_activate = 1, "
        "vertical_merge_algorithm_min_columns_to_activate = 1"
        for table in MERGED_COLUMN_BY_COLUMN
    ),
)
