"""Migration 5: derived state: the dictionaries attributing predictions at insert time, edges by
source, model closures and tag impacts. The views over them are in ``processors/store/views``."""

from __future__ import annotations

from lineage_processors.store.migrations.base import DEDUP, Migration, source_columns

MIGRATION = Migration(
    5,
    "derived state: attribution of predictions, model closures, tag impacts",
    (
        # -- Attribution: which training run made the model behind each prediction.
        f"""
        CREATE TABLE IF NOT EXISTS model_training (
            model_node String,
            training_run String,
            datasets Array(String),
            roles Array(LowCardinality(String)),
            code_version String,
            event_time DateTime64(3, 'UTC'),
            event_id String
        )
        -- One row per model version, its newest completed training run winning: what
        -- that version's predictions are attributed to. Small and read whole by the
        -- dictionary below, so no partitions; lineage never expires, so no TTL.
        ENGINE = ReplacingMergeTree(event_time)
        ORDER BY model_node
        {DEDUP}
        """,
        source_columns("model_training"),
        # The dictionaries read the views model_training_latest and deployment_periods
        # (processors/store/views), created once this migration has run.
        # In memory, so attributing a prediction at insert time is a hash lookup; the
        # run only (about 200 bytes a model version). chDB never reloads a dictionary on
        # its LIFETIME: the worker reloads both after writing their sources
        # (lineage_processors.derive.attribution); on a server the LIFETIME also picks up rows
        # other writers added.
        """
        CREATE DICTIONARY IF NOT EXISTS model_training_dict (
            model_node String,
            training_run String
        )
        PRIMARY KEY model_node
        SOURCE(CLICKHOUSE(TABLE 'model_training_latest'))
        LIFETIME(MIN 5 MAX 30)
        LAYOUT(COMPLEX_KEY_HASHED())
        """,
        # The training data itself, read from the table at each lookup (a key lookup in
        # model_training): the attributions view needs it per prediction asked about,
        # never per prediction stored, so it holds no memory and is never stale.
        """
        CREATE DICTIONARY IF NOT EXISTS model_training_direct (
            model_node String,
            training_run String,
            datasets Array(String),
            roles Array(String)
        )
        PRIMARY KEY model_node
        SOURCE(CLICKHOUSE(TABLE 'model_training_latest'))
        LAYOUT(COMPLEX_KEY_DIRECT())
        """,
        # The model version a deployment served at a time, for predictions that name only
        # the deployment. Periods overlap while a new version rolls out before the old
        # one is closed: the later start wins.
        """
        CREATE DICTIONARY IF NOT EXISTS deployment_models (
            deployment String,
            valid_from DateTime64(3, 'UTC'),
            valid_until Nullable(DateTime64(3, 'UTC')),
            model_node String
        )
        PRIMARY KEY deployment
        SOURCE(CLICKHOUSE(TABLE 'deployment_periods'))
        LIFETIME(MIN 5 MAX 30)
        LAYOUT(COMPLEX_KEY_RANGE_HASHED(range_lookup_strategy 'max'))
        RANGE(MIN valid_from MAX valid_until)
        """,
        # Attributed at insert time by ClickHouse itself: dictionary lookups per row, no
        # Python per prediction. Rows stored before their lineage arrived are rewritten
        # later (lineage_processors.derive.attribution). Parts written before this migration
        # compute the columns when read, from the dictionaries as they are then.
        """
        ALTER TABLE inferences
            ADD COLUMN IF NOT EXISTS served_model String DEFAULT if(
                model_node != '',
                model_node,
                dictGetOrDefault('deployment_models', 'model_node', deployment, event_time, '')
            ),
            ADD COLUMN IF NOT EXISTS training_run String DEFAULT
                dictGetOrDefault('model_training_dict', 'training_run', served_model, ''),
            ADD COLUMN IF NOT EXISTS resolved UInt8 DEFAULT training_run != '',
            -- Late resolution looks for unresolved rows: granules holding none are skipped.
            ADD INDEX IF NOT EXISTS unresolved resolved TYPE minmax GRANULARITY 1
        """,
        # -- Edges by src, for downstream walks (the table is sorted by dst, for upstream
        # ones). A projection rather than a second table: it lives in the same part as
        # the rows, so replays, insert deduplication and recovery's deletes need nothing
        # more. A delete drops the projection of the parts it touches (reads fall back
        # to the table until a merge rebuilds it); 'rebuild' would leave the deleted
        # rows visible through the projection.
        """
        ALTER TABLE edges MODIFY SETTING
            deduplicate_merge_projection_mode = 'rebuild',
            lightweight_mutation_projection_mode = 'drop'
        """,
        """
        ALTER TABLE edges ADD PROJECTION IF NOT EXISTS by_src
            (SELECT src, dst, relation, event_time ORDER BY src, dst)
        """,
        "ALTER TABLE edges MATERIALIZE PROJECTION by_src",
        # -- Everything each model version was built from, transitively.
        """
        CREATE TABLE IF NOT EXISTS model_upstream (
            model_node String,
            ancestor_kind LowCardinality(String) DEFAULT splitByChar(':', ancestor)[1],
            ancestor String,
            depth SimpleAggregateFunction(min, UInt32),
            since SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
            -- "Which models were built from X", the reverse question, reads by ancestor.
            PROJECTION by_ancestor (SELECT * ORDER BY ancestor, model_node)
        )
        -- One row per (model version, ancestor) once merged: the shortest path's depth
        -- and the earliest time some path was true. min() merges rows in any order, so
        -- a shorter or earlier path found later is one more row, never an update. The
        -- key starts with the model ("what was M built from", optionally of one kind).
        -- Lineage never expires and reads are by model: no TTL, no partitions.
        ENGINE = AggregatingMergeTree
        ORDER BY (model_node, ancestor_kind, ancestor)
        SETTINGS deduplicate_merge_projection_mode = 'rebuild',
                 lightweight_mutation_projection_mode = 'drop'
        """,
        # -- Where each tag or incident reached downstream.
        """
        CREATE TABLE IF NOT EXISTS tag_impacts (
            tag_node String,
            tag LowCardinality(String),
            incident_id String,
            affected String,
            kind LowCardinality(String),
            depth UInt32,
            window_start Nullable(DateTime64(3, 'UTC')),
            window_end Nullable(DateTime64(3, 'UTC')),
            active UInt8,
            updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
            -- "Is X affected by anything" reads by affected node.
            PROJECTION by_affected (SELECT * ORDER BY affected)
        )
        -- One row per (tag, affected node). Every write carries the tag's whole state
        -- as it is now, so the newest write wins: a retraction is a newer row with
        -- active = 0, kept for audit (no TTL). "What did incident I reach" is one key
        -- range; the table is small next to inferences, so no partitions.
        ENGINE = ReplacingMergeTree(updated_at)
        ORDER BY (tag_node, tag, incident_id, affected)
        SETTINGS deduplicate_merge_projection_mode = 'rebuild',
                 lightweight_mutation_projection_mode = 'drop'
        """,
    ),
)
