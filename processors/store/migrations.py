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
