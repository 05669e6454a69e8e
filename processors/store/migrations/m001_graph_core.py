"""Migration 1: the graph core, raw events, nodes, properties and edges."""

from __future__ import annotations

from lineage_processors.store.migrations.base import DEDUP, Migration

MIGRATION = Migration(
    1,
    "graph core: raw events, nodes, properties, edges",
    (
        f"""
        CREATE TABLE IF NOT EXISTS events_raw (
            event_id String,
            kind LowCardinality(String),
            event_time DateTime64(3, 'UTC'),
            producer LowCardinality(String),
            namespace LowCardinality(String),
            subject String,
            payload String,
            topic LowCardinality(String),
            partition UInt32,
            offset UInt64,
            ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
        )
        ENGINE = ReplacingMergeTree
        -- Monthly partitions keep old months cheap to archive; an event's time never
        -- changes, so its replays land in the same partition and collapse there.
        PARTITION BY toYYYYMM(event_time)
        ORDER BY event_id
        {DEDUP}
        """,
        f"""
        CREATE TABLE IF NOT EXISTS nodes (
            node_id String,
            kind LowCardinality(String),
            name String,
            version String,
            namespace LowCardinality(String),
            event_time DateTime64(3, 'UTC'),
            event_id String
        )
        -- The newest event about a node wins; lookups are by node id.
        ENGINE = ReplacingMergeTree(event_time)
        ORDER BY node_id
        {DEDUP}
        """,
        f"""
        CREATE TABLE IF NOT EXISTS properties (
            node_id String,
            key String,
            value String,
            event_time DateTime64(3, 'UTC'),
            event_id String
        )
        -- One row per fact about a node (hyperparameter.lr, metric.f1, status, ...), so
        -- the several events that describe one run merge key by key, the newest value
        -- of each key winning, instead of one event's facts replacing another's.
        ENGINE = ReplacingMergeTree(event_time)
        ORDER BY (node_id, key)
        {DEDUP}
        """,
        f"""
        CREATE TABLE IF NOT EXISTS edges (
            src String,
            dst String,
            relation LowCardinality(String),
            role LowCardinality(String),
            event_time DateTime64(3, 'UTC'),
            run_id String,
            event_id String
        )
        ENGINE = ReplacingMergeTree
        -- Upstream walks ("what was this built from") start at dst, the common question.
        ORDER BY (dst, src, relation, role)
        {DEDUP}
        """,
    ),
)
