"""The store's schema migrations, one module per migration: ``mNNN_<what it does>.py``.

Each module holds one :class:`~lineage_processors.store.migrations.base.Migration` named
``MIGRATION``; its version is the number in the file name, and ``schema_migrations`` records the
version and name of every migration a store has run (``lineage_processors.store.schema``
applies them). Python rather than ``.sql`` files: several migrations build their statements
(the same columns on eight tables, the same rebuild of eight tables), and the shared pieces
live in ``base.py``. Never edit a released migration's statements: add a migration. Each
statement is idempotent (``IF NOT EXISTS``), so a migration cut short by a crash is run again.

Views are not here: each view's current definition is a file of its own in
``lineage_processors.store.views``, created again on every migrate. To retire a view, delete
its file and add a migration that drops it.

To add a migration: a module ``mNNN_<what>.py`` with the next version, listed below.
"""

from __future__ import annotations

from lineage_processors.store.migrations import (
    m001_graph_core,
    m002_subjects_inferences_tags_deployments,
    m003_column_edges,
    m004_source_offsets,
    m005_derived_state,
    m006_dead_letters,
    m007_derived_progress,
    m008_prediction_lookup_indexes,
    m009_bloom_filters_dropped,
    m010_inference_batches,
    m011_downstream_role_and_person_projection,
    m012_statement_precedence,
    m013_prediction_id_projection,
    m014_prediction_copies_written_at,
    m015_column_by_column_merges,
    m016_small_compressed_blocks,
)
from lineage_processors.store.migrations.base import Migration

MIGRATIONS: tuple[Migration, ...] = tuple(
    module.MIGRATION
    for module in (
        m001_graph_core,
        m002_subjects_inferences_tags_deployments,
        m003_column_edges,
        m004_source_offsets,
        m005_derived_state,
        m006_dead_letters,
        m007_derived_progress,
        m008_prediction_lookup_indexes,
        m009_bloom_filters_dropped,
        m010_inference_batches,
        m011_downstream_role_and_person_projection,
        m012_statement_precedence,
        m013_prediction_id_projection,
        m014_prediction_copies_written_at,
        m015_column_by_column_merges,
        m016_small_compressed_blocks,
    )
)

__all__ = ["MIGRATIONS", "Migration"]
