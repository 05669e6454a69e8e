"""Versioned schema migrations, applied idempotently; ``schema_migrations`` records what ran.

Each migration's statements are themselves idempotent (``IF NOT EXISTS``), so a migration cut
short by a crash is simply run again. Never edit a released migration: add a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from processors.store.connect import Store


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


# ReplacingMergeTree everywhere below: rows carry natural keys, so a batch replayed after a
# crash collapses onto the rows it wrote the first time. non_replicated_deduplication_window
# makes single-node ClickHouse (and chDB) honour insert deduplication tokens too, so a
# retried insert of the same batch is dropped outright rather than merged away later.
_DEDUP = "SETTINGS non_replicated_deduplication_window = 10000"

# Tables whose rows are stamped with the Kafka record they came from (events_raw has its own
# topic/partition/offset columns since version 1).
_STAMPED = (
    "nodes",
    "properties",
    "edges",
    "subject_links",
    "inferences",
    "tags",
    "deployments",
    "column_edges",
)


def _source_columns(table: str) -> str:
    return f"""
        ALTER TABLE {table}
            ADD COLUMN IF NOT EXISTS src_topic LowCardinality(String) DEFAULT '',
            ADD COLUMN IF NOT EXISTS src_partition UInt32 DEFAULT 0,
            -- Offsets grow within a partition: a delta codec stores them in a few bits.
            ADD COLUMN IF NOT EXISTS src_offset UInt64 DEFAULT 0 CODEC(Delta, ZSTD(1)),
            ADD INDEX IF NOT EXISTS by_source_offset src_offset TYPE minmax GRANULARITY 1
    """


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
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
            {_DEDUP}
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
            {_DEDUP}
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
            {_DEDUP}
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
            {_DEDUP}
            """,
        ),
    ),
    Migration(
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
            {_DEDUP}
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
            {_DEDUP}
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
            {_DEDUP}
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
            {_DEDUP}
            """,
        ),
    ),
    Migration(
        3,
        "column lineage from OpenLineage columnLineage facets",
        (
            f"""
            CREATE TABLE IF NOT EXISTS column_edges (
                src_node String,
                src_field String,
                dst_node String,
                dst_field String,
                transformation LowCardinality(String),
                masking Bool,
                event_time DateTime64(3, 'UTC'),
                run_id String,
                event_id String
            )
            ENGINE = ReplacingMergeTree
            -- Like edges: "which columns made this column" starts at the output column, and
            -- one input reaching it both DIRECT and INDIRECT is two facts, so the
            -- transformation is part of the key.
            ORDER BY (dst_node, dst_field, src_node, src_field, transformation)
            {_DEDUP}
            """,
        ),
    ),
    Migration(
        4,
        "source offsets on every row, for exactly-once recovery",
        (
            # After a crash the worker asks each table which of the records it is about to
            # write again are already there. Those records are recent, so the minmax index
            # on the offset skips every part written before them.
            *(_source_columns(t) for t in _STAMPED),
            "ALTER TABLE events_raw ADD INDEX IF NOT EXISTS by_offset offset "
            "TYPE minmax GRANULARITY 1",
        ),
    ),
)


def applied_versions(store: Store) -> set[int]:
    rows = store.query("SELECT version FROM schema_migrations FINAL").result_rows
    return {int(r[0]) for r in rows}


def migrate(store: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply every migration not yet recorded; returns the versions applied now."""
    store.command(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version UInt32,
            name String,
            applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
        )
        -- Several workers may migrate at once on a server; one row per version survives.
        ENGINE = ReplacingMergeTree ORDER BY version
        """
    )
    done = applied_versions(store)
    ran = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        for statement in migration.statements:
            store.command(statement)
        store.client.insert(
            "schema_migrations",
            [[migration.version, migration.name]],
            column_names=["version", "name"],
        )
        ran.append(migration.version)
    return ran
