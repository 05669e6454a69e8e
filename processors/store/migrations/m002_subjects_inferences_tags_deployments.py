"""Migration 2: subject links, predictions, tags and deployments."""

from __future__ import annotations

from lineage_processors.store.migrations.base import DEDUP, Migration

MIGRATION = Migration(
    2,
    "subjects, inferences, tags, deployments",
    (
        f"""
        CREATE TABLE IF NOT EXISTS subject_links (
            subject String,
            key_id LowCardinality(String),
            node_id String,
            event_time DateTime64(3, 'UTC'),
            event_id String
        )
        ENGINE = ReplacingMergeTree
        -- Erasure and access requests start from a person's pseudonym.
        ORDER BY (subject, node_id)
        {DEDUP}
        """,
        f"""
        CREATE TABLE IF NOT EXISTS inferences (
            inference_id String,
            model_node String,
            deployment String,
            event_time DateTime64(3, 'UTC'),
            subject String,
            inputs Array(String),
            input_datasets Array(String),
            output String,
            event_id String,
            INDEX by_inference inference_id TYPE bloom_filter(0.001) GRANULARITY 4,
            INDEX by_subject subject TYPE bloom_filter(0.001) GRANULARITY 4
        )
        ENGINE = ReplacingMergeTree
        -- The biggest table. Impact questions ask "predictions of model M between T1 and
        -- T2", so rows sort by model then time; monthly partitions let old months go.
        -- Lookups by prediction id or person use the bloom filter indexes instead.
        PARTITION BY toYYYYMM(event_time)
        ORDER BY (model_node, deployment, event_time, inference_id)
        {DEDUP}
        """,
        f"""
        CREATE TABLE IF NOT EXISTS tags (
            node_id String,
            tag LowCardinality(String),
            incident_id String,
            record_count Nullable(Int64),
            window_start Nullable(DateTime64(3, 'UTC')),
            window_end Nullable(DateTime64(3, 'UTC')),
            reason String,
            active UInt8,
            event_time DateTime64(3, 'UTC'),
            event_id String
        )
        -- The newest statement about a tag wins, so a later event can retract it.
        ENGINE = ReplacingMergeTree(event_time)
        ORDER BY (node_id, tag, incident_id)
        {DEDUP}
        """,
        f"""
        CREATE TABLE IF NOT EXISTS deployments (
            deployment String,
            model_node String,
            environment LowCardinality(String),
            valid_from DateTime64(3, 'UTC'),
            valid_until Nullable(DateTime64(3, 'UTC')),
            event_time DateTime64(3, 'UTC'),
            event_id String
        )
        -- One row per (deployment, model version, start); the newest event sets its end.
        ENGINE = ReplacingMergeTree(event_time)
        ORDER BY (deployment, model_node, valid_from)
        {DEDUP}
        """,
    ),
)
