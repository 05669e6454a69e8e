"""Migration 11: edges by source with their role, and a person's predictions in a projection sorted
by person (the views this migration used to replace are in ``processors/store/views``)."""

from __future__ import annotations

from lineage_processors.store.migrations.base import Migration

MIGRATION = Migration(
    11,
    "answers: downstream role, impact stopping at masking, replay-safe counts, a person's "
    "derived datasets and predictions read from a projection sorted by person",
    (
        # Downstream walks read edges by src: the projection now holds the split role
        # too, so `lineage downstream` shows it as upstream does.
        """
        ALTER TABLE edges ADD PROJECTION IF NOT EXISTS by_src_role
            (SELECT src, dst, relation, role, event_time ORDER BY src, dst)
        """,
        # Waited for: the projection it replaces is dropped next, and reads would
        # scan the table in between.
        "ALTER TABLE edges MATERIALIZE PROJECTION by_src_role SETTINGS mutations_sync = 1",
        "ALTER TABLE edges DROP PROJECTION IF EXISTS by_src",
        # A person's predictions, about a hundred among 100M rows, sit in as many
        # granules of the table: through the by_subject index each costs a granule of
        # 8,192 rows read (85 ms a person). Sorted by person with the columns the
        # questions read, in granules of 256 rows, they are one short range per part.
        """
        ALTER TABLE inferences ADD PROJECTION IF NOT EXISTS by_subject_rows
            (SELECT subject, event_time, inference_id, served_model, deployment, output
             ORDER BY subject)
            WITH SETTINGS (index_granularity = 256)
        """,
        "ALTER TABLE inferences MATERIALIZE PROJECTION by_subject_rows SETTINGS mutations_sync = 1",
        "ALTER TABLE inferences DROP PROJECTION IF EXISTS by_subject",
        # downstream_of (with the role), impact_of (stopping at masking, counting
        # predictions by id), subject_predictions and subject_derived are in
        # processors/store/views.
    ),
)
