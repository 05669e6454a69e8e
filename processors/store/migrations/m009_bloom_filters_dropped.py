"""Migration 9: the bloom filters of migration 2 dropped, the projection indexes of migration 8
being faster."""

from __future__ import annotations

from lineage_processors.store.migrations.base import Migration

MIGRATION = Migration(
    9,
    "prediction lookups by the projection indexes alone",
    (
        # The bloom filters of migration 2 are read whole for every lookup by id or by
        # person (all parts, every granule: hundreds of milliseconds at 100M rows),
        # before the projection indexes of migration 8 pick the one granule to read.
        "ALTER TABLE inferences DROP INDEX IF EXISTS by_inference",
        "ALTER TABLE inferences DROP INDEX IF EXISTS by_subject",
    ),
)
