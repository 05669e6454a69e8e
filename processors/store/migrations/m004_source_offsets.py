"""Migration 4: every row stamped with the Kafka record it came from, for exactly-once recovery."""

from __future__ import annotations

from lineage_processors.store.migrations.base import Migration, source_columns

# Tables whose rows are stamped with the Kafka record they came from (events_raw has its own
# topic/partition/offset columns since version 1).
STAMPED = (
    "nodes",
    "properties",
    "edges",
    "subject_links",
    "inferences",
    "tags",
    "deployments",
    "column_edges",
)

MIGRATION = Migration(
    4,
    "source offsets on every row, for exactly-once recovery",
    (
        # After a crash the worker asks each table which of the records it is about to
        # write again are already there. Those records are recent, so the minmax index
        # on the offset skips every part written before them.
        *(source_columns(t) for t in STAMPED),
        "ALTER TABLE events_raw ADD INDEX IF NOT EXISTS by_offset offset TYPE minmax GRANULARITY 1",
    ),
)
