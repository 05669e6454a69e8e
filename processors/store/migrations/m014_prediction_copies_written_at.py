"""Migration 14: prediction projections merged as they are, each copy of a prediction stamped with
when it was written (the views reading the newest copy are in ``processors/store/views``)."""

from __future__ import annotations

from lineage_processors.store.migrations.base import Migration

MIGRATION = Migration(
    14,
    "prediction projections merged as they are, each copy of a prediction stamped with "
    "when it was written, and readers through them taking the newest",
    (
        # Of several rows of one prediction (a replay, a copy sent twice, written with
        # a different attribution when lineage came in between), the table keeps the one
        # written last. 'rebuild' makes a merge read whole rows (a horizontal merge) and
        # sort them again into each projection, in memory: 330 MB for a merge of 600,000
        # predictions, most of the worker's footprint under load. Merged as they are
        # ('ignore'), projections cost a streaming merge, column by column (65 MB), but
        # keep the copies the merge dropped from the table: readers through them take
        # each prediction's newest copy by written_at, the one the table keeps. The only
        # other rows a merge drops are expired ones, so apply_retention sets 'rebuild'
        # back when a retention is set. Mutations (late attribution, deletes) rebuild a
        # part's projections from its rows either way.
        "ALTER TABLE inferences MODIFY SETTING deduplicate_merge_projection_mode = 'ignore'",
        """
        ALTER TABLE inferences
            ADD COLUMN IF NOT EXISTS written_at DateTime64(6, 'UTC') DEFAULT now64(6)
        """,
        # In microseconds, so that copies written one after the other differ.
        # Rows stored before now: this moment, older than any copy written after it
        # (left unmaterialised, they would read as the time of each query).
        "ALTER TABLE inferences MATERIALIZE COLUMN written_at SETTINGS mutations_sync = 1",
        # As by_inference_rows (migration 13) and by_subject_rows (11), with written_at.
        """
        ALTER TABLE inferences ADD PROJECTION IF NOT EXISTS by_id
            (SELECT inference_id, event_time, model_node, deployment, served_model,
                    training_run, output, resolved, written_at
             ORDER BY inference_id)
            WITH SETTINGS (index_granularity = 256)
        """,
        """
        ALTER TABLE inferences ADD PROJECTION IF NOT EXISTS by_person
            (SELECT subject, event_time, inference_id, served_model, deployment, output,
                    written_at
             ORDER BY subject)
            WITH SETTINGS (index_granularity = 256)
        """,
        "ALTER TABLE inferences MATERIALIZE PROJECTION by_id SETTINGS mutations_sync = 1",
        "ALTER TABLE inferences MATERIALIZE PROJECTION by_person SETTINGS mutations_sync = 1",
        "ALTER TABLE inferences DROP PROJECTION IF EXISTS by_inference_rows",
        "ALTER TABLE inferences DROP PROJECTION IF EXISTS by_subject_rows",
        # The attributions and subject_predictions views read each prediction's newest
        # copy by written_at (processors/store/views).
    ),
)
