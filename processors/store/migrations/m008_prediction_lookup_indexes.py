"""Migration 8: projection indexes for lookups of a prediction by id and by person (the views
answering each question, once created here, are in ``processors/store/views``)."""

from __future__ import annotations

from lineage_processors.store.migrations.base import Migration

MIGRATION = Migration(
    8,
    "answers: prediction lookups by id and person, parameterised views for each question",
    (
        # Attribution asks for one prediction by id, access and erasure requests for one
        # person's: among 100M rows sorted by model and time, the bloom filters still
        # read their whole index. Projection indexes hold each part's rows sorted by the
        # column with their offsets only, so a lookup is a binary search and reads a
        # granule. In the part, like by_src on edges: replays, deduplication and
        # recovery's deletes (rebuilt) need nothing more.
        """
        ALTER TABLE inferences MODIFY SETTING
            deduplicate_merge_projection_mode = 'rebuild',
            lightweight_mutation_projection_mode = 'rebuild'
        """,
        "ALTER TABLE inferences ADD PROJECTION IF NOT EXISTS by_inference "
        "INDEX inference_id TYPE basic",
        "ALTER TABLE inferences ADD PROJECTION IF NOT EXISTS by_subject INDEX subject TYPE basic",
        "ALTER TABLE inferences MATERIALIZE PROJECTION by_inference",
        "ALTER TABLE inferences MATERIALIZE PROJECTION by_subject",
        # The views answering each question (upstream_of, downstream_of, impact_of,
        # model_lineage, model_facts, model_diff, subject_*) are in processors/store/views.
    ),
)
