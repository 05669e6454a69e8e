"""Versioned schema migrations, applied idempotently; ``schema_migrations`` records what ran.

Each migration's statements are themselves idempotent (``IF NOT EXISTS``), so a migration cut
short by a crash is simply run again. Never edit a released migration: add a new one.

On a ClickHouse server, workers started together would migrate together, and a migration
that rebuilds a table (copy, exchange, drop) is not safe to run twice at once. So one worker
migrates at a time, holding a lock: the table ``schema_migrations_lock``, which only one
``CREATE TABLE`` can make; the others wait for it to go, then find the work done. As with
other migration tools' lock tables, a holder killed mid-migration leaves it behind: the
waiting workers say so, and it is dropped by hand. (An embedded store has one process.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lineage_processors.errors import StoreError
from lineage_processors.store.connect import Store

log = logging.getLogger(__name__)

LOCK = "schema_migrations_lock"
# How long a worker waits for another to migrate before it gives up and says why. Rebuilds
# of a large store's projections take minutes.
LOCK_WAIT_SECONDS = 900.0
_LOCK_REPORT_SECONDS = 30.0

# The columns of the attributions view (migrations 4 and 14): a prediction with the training
# data that may have influenced it, looked up by the model version that served it.
_ATTRIBUTIONS = """
    inference_id, event_time, model_node, deployment, served_model, subject, output,
    input_datasets, training_run,
    if(resolved,
       dictGetOrDefault('model_training_direct', 'datasets', served_model,
                        CAST([], 'Array(String)')),
       CAST([], 'Array(String)')) AS training_datasets,
    if(resolved,
       dictGetOrDefault('model_training_direct', 'roles', served_model,
                        CAST([], 'Array(String)')),
       CAST([], 'Array(String)')) AS training_roles,
    resolved
"""


# The tables migration 15 has merged column by column however small their parts.
MERGED_COLUMN_BY_COLUMN = (
    "events_raw",
    "nodes",
    "properties",
    "subject_links",
    "tags",
    "deployments",
    "column_edges",
    "model_training",
)
# The tables migration 16 writes in smaller compressed blocks: every table a graph event or
# the derived state writes to.
SMALL_BLOCKS = (*MERGED_COLUMN_BY_COLUMN, "edges", "model_upstream", "tag_impacts")
SMALL_BLOCK_BYTES = 256 << 10


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


# Which of several rows of one key a ReplacingMergeTree keeps, as one number: the event
# time in the high 64 bits, then a rank of what the row says (2 bits), then a hash of the
# event id, so that two statements of the same time are settled by what they say and which
# events they are, never by which arrived last. Kafka may deliver statements in any order,
# and every store must keep the same one. The time is shifted by 2^62 to stay positive
# back to 1900.
_MILLIS = "toUInt64(toUnixTimestamp64Milli(event_time) + 4611686018427387904)"


def _precedence(time: str, rank: str = "0") -> str:
    return (
        f"bitShiftLeft(toUInt128({time}), 64) + bitShiftLeft(toUInt128({rank}), 62) "
        "+ bitShiftRight(sipHash64(event_id), 2)"
    )


NEWEST_WINS = _precedence(_MILLIS)
EARLIEST_WINS = _precedence(f"bitNot({_MILLIS})")
# A run's state only moves forward: a step that starts and ends within one millisecond
# states STARTED and COMPLETED at the same time, and the run is COMPLETED.
NEWEST_STATE_WINS = _precedence(
    _MILLIS,
    "multiIf(key != 'status', 0, value IN ('STARTED', 'START'), 1, value = 'RUNNING', 2, 3)",
)
# Likewise a tag is stated before it is retracted, a deployment opened before it is closed.
NEWEST_RETRACTION_WINS = _precedence(_MILLIS, "active = 0")
NEWEST_CLOSING_WINS = _precedence(_MILLIS, "valid_until IS NOT NULL")


def _rebuilt_with_precedence(
    table: str, precedence: str, order_by: str, settings: str = ""
) -> tuple[str, ...]:
    """Statements that rebuild ``table`` as a ReplacingMergeTree ordered by ``precedence``,
    its rows, columns, indexes and projections carried over.

    The version column of a ReplacingMergeTree cannot be changed in place: a copy is made
    with it and swapped with the table in one step (EXCHANGE TABLES is atomic). Views and
    dictionaries name the table, so they read the copy from then on. Run again after a
    crash at any step, the statements finish the job: the spare table is either a partial
    copy or the table as it was, and is dropped first. On a server, start one worker alone
    the first time, so that two do not rebuild the same table at once.
    """
    spare = f"{table}_rebuilding"
    return (
        f"DROP TABLE IF EXISTS {spare} SYNC",
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS precedence UInt128 "
        f"MATERIALIZED {precedence}",
        f"CREATE TABLE {spare} AS {table} ENGINE = ReplacingMergeTree(precedence) "
        f"ORDER BY {order_by} {_DEDUP}{settings}",
        # Every row as it was, none collapsed on the way (merges do that later) and no
        # two equal blocks taken for a retried insert.
        f"INSERT INTO {spare} SELECT * FROM {table} "
        "SETTINGS insert_deduplicate = 0, optimize_on_insert = 0",
        f"EXCHANGE TABLES {spare} AND {table}",
        f"DROP TABLE {spare} SYNC",
    )


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
    Migration(
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
            {_DEDUP}
            """,
            _source_columns("model_training"),
            # Dictionaries read their source without FINAL, where a version's replaced row
            # could win the race into the hash table: they read these views instead.
            """
            CREATE VIEW IF NOT EXISTS model_training_latest AS
            SELECT model_node, training_run, datasets, roles FROM model_training FINAL
            """,
            """
            CREATE VIEW IF NOT EXISTS deployment_periods AS
            SELECT deployment, valid_from, valid_until, model_node FROM deployments FINAL
            """,
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
            # One row per prediction with the training data that may have influenced it.
            f"CREATE VIEW IF NOT EXISTS attributions AS SELECT {_ATTRIBUTIONS} FROM inferences",
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
            """
            CREATE VIEW IF NOT EXISTS active_tag_impacts AS
            SELECT tag_node, tag, incident_id, affected, kind, depth, window_start, window_end
            FROM tag_impacts FINAL
            WHERE active = 1
            """,
            # Predictions inside an active tag's window [start, end), made by a model version
            # it reached, or at a deployment it reached when the model behind the prediction
            # is unknown or the tag sits on the deployment itself (so no prediction counts
            # twice for one tag). The IN filters follow the sort key of inferences (model
            # first, deployment-only predictions under model '' by deployment), so only the
            # impacted models' and deployments' rows are read: a deployment serving a
            # reached model is reached too, through its deployed edge.
            """
            CREATE VIEW IF NOT EXISTS affected_predictions AS
            SELECT
                t.tag_node AS tag_node,
                t.tag AS tag,
                t.incident_id AS incident_id,
                t.affected AS via,
                i.inference_id AS inference_id,
                i.event_time AS event_time,
                i.model_node AS model_node,
                i.deployment AS deployment,
                i.served_model AS served_model,
                i.subject AS subject,
                i.output AS output
            FROM inferences AS i
            INNER JOIN (SELECT * FROM active_tag_impacts WHERE kind = 'model') AS t
                ON i.served_model = t.affected
            WHERE (i.model_node IN (SELECT affected FROM active_tag_impacts
                                    WHERE kind = 'model')
                   OR (i.model_node = ''
                       AND i.deployment IN (SELECT affected FROM active_tag_impacts
                                            WHERE kind = 'deployment')))
              AND (t.window_start IS NULL OR i.event_time >= t.window_start)
              AND (t.window_end IS NULL OR i.event_time < t.window_end)
            UNION ALL
            SELECT
                t.tag_node, t.tag, t.incident_id, t.affected, i.inference_id, i.event_time,
                i.model_node, i.deployment, i.served_model, i.subject, i.output
            FROM inferences AS i
            INNER JOIN (SELECT * FROM active_tag_impacts WHERE kind = 'deployment') AS t
                ON i.deployment = t.affected
            WHERE i.deployment IN (SELECT affected FROM active_tag_impacts
                                   WHERE kind = 'deployment')
              AND (t.depth = 0 OR i.served_model = '')
              AND (t.window_start IS NULL OR i.event_time >= t.window_start)
              AND (t.window_end IS NULL OR i.event_time < t.window_end)
            """,
        ),
    ),
    Migration(
        6,
        "dead letters, recorded beside the DLQ topic",
        (
            f"""
            CREATE TABLE IF NOT EXISTS dead_letters (
                stage LowCardinality(String),
                error_class LowCardinality(String),
                error String,
                record_key String,
                record_bytes UInt32,
                dead_at DateTime64(3, 'UTC'),
                src_topic LowCardinality(String),
                src_partition UInt32,
                src_offset UInt64 CODEC(Delta, ZSTD(1))
            )
            -- One row per record sent to the DLQ, keyed by where it was read: a worker
            -- reading it again (a restart, a replay) finds it here and does not send it
            -- twice, and "what failed on this partition, and why" is a key lookup.
            ENGINE = ReplacingMergeTree
            ORDER BY (src_topic, src_partition, src_offset)
            -- The DLQ topic holds the bytes; this is their index, kept 90 days.
            TTL toDateTime(dead_at) + INTERVAL 90 DAY
            {_DEDUP}
            """,
        ),
    ),
    Migration(
        7,
        "how far derived state has followed each partition",
        (
            """
            CREATE TABLE IF NOT EXISTS derived_progress (
                topic LowCardinality(String),
                partition UInt32,
                offset UInt64,
                at DateTime64(3, 'UTC')
            )
            -- One live row per partition: the highest offset whose rows the derived
            -- steps (attribution, closures, tag impacts) have run over. A worker starting
            -- takes up from there, whoever stored the rows after it.
            ENGINE = ReplacingMergeTree(offset)
            ORDER BY (topic, partition)
            """,
        ),
    ),
    Migration(
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
            "ALTER TABLE inferences ADD PROJECTION IF NOT EXISTS by_subject "
            "INDEX subject TYPE basic",
            "ALTER TABLE inferences MATERIALIZE PROJECTION by_inference",
            "ALTER TABLE inferences MATERIALIZE PROJECTION by_subject",
            # Walks over the edges, as the graph was at as_of, following only the relations
            # named (all when empty). Each step keeps one row per node, so paths never
            # multiply; a node is reported at its shortest depth, with the earliest time
            # some path to it was true. `lineage upstream|downstream` answer the same.
            """
            CREATE VIEW IF NOT EXISTS upstream_of AS
            WITH RECURSIVE walk AS (
                SELECT src AS node, 1 AS hops, min((dst, relation, role)) AS edge,
                       min(event_time) AS since
                FROM edges
                WHERE dst = {node:String} AND event_time <= {as_of:DateTime64(3, 'UTC')}
                  AND (empty({relations:Array(String)}) OR has({relations:Array(String)}, relation))
                GROUP BY src
                UNION ALL
                SELECT e.src, min(walk.hops) + 1, min((e.dst, e.relation, e.role)),
                       min(greatest(e.event_time, walk.since))
                FROM edges AS e INNER JOIN walk ON e.dst = walk.node
                WHERE walk.hops < {max_depth:UInt32} AND e.dst IN (SELECT node FROM walk)
                  AND e.event_time <= {as_of:DateTime64(3, 'UTC')}
                  AND (empty({relations:Array(String)})
                       OR has({relations:Array(String)}, e.relation))
                GROUP BY e.src
            )
            SELECT min(hops) AS depth, node, splitByChar(':', node)[1] AS kind,
                   argMin(edge, hops).2 AS relation, argMin(edge, hops).3 AS role,
                   argMin(edge, hops).1 AS via, min(since) AS since
            FROM walk
            GROUP BY node
            """,
            # Downstream reads edges by src through their by_src projection, which holds no
            # role: the relation says how each node was reached.
            """
            CREATE VIEW IF NOT EXISTS downstream_of AS
            WITH RECURSIVE walk AS (
                SELECT dst AS node, 1 AS hops, min((src, relation)) AS edge,
                       min(event_time) AS since
                FROM edges
                WHERE src = {node:String} AND event_time <= {as_of:DateTime64(3, 'UTC')}
                  AND (empty({relations:Array(String)}) OR has({relations:Array(String)}, relation))
                GROUP BY dst
                UNION ALL
                SELECT e.dst, min(walk.hops) + 1, min((e.src, e.relation)),
                       min(greatest(e.event_time, walk.since))
                FROM edges AS e INNER JOIN walk ON e.src = walk.node
                WHERE walk.hops < {max_depth:UInt32} AND e.src IN (SELECT node FROM walk)
                  AND e.event_time <= {as_of:DateTime64(3, 'UTC')}
                  AND (empty({relations:Array(String)})
                       OR has({relations:Array(String)}, e.relation))
                GROUP BY e.dst
            )
            SELECT min(hops) AS depth, node, splitByChar(':', node)[1] AS kind,
                   argMin(edge, hops).2 AS relation, argMin(edge, hops).1 AS via,
                   min(since) AS since
            FROM walk
            GROUP BY node
            """,
            # Predictions made downstream of a node in [since, until): by the model versions
            # it reaches, or at a deployment it reaches when the model is not known.
            """
            CREATE VIEW IF NOT EXISTS impact_of AS
            SELECT served_model AS model_version, deployment, output,
                   count() AS predictions, uniqExact(subject) AS subjects,
                   min(event_time) AS first, max(event_time) AS last
            FROM inferences
            WHERE (model_node IN (SELECT node FROM downstream_of(node = {node:String},
                                  max_depth = 100, as_of = {until:DateTime64(3, 'UTC')},
                                  relations = []) WHERE kind = 'model')
                   OR (model_node = '' AND deployment IN (
                       SELECT node FROM downstream_of(node = {node:String}, max_depth = 100,
                              as_of = {until:DateTime64(3, 'UTC')}, relations = [])
                       WHERE kind = 'deployment')))
              AND event_time >= {since:DateTime64(3, 'UTC')}
              AND event_time < {until:DateTime64(3, 'UTC')}
            GROUP BY model_version, deployment, output
            """,
            # Everything a model version was built from (its closure), each node with its
            # facts: split role for training data, job, parameters and code version for
            # runs, splits and sizes for datasets, system and uri for sources. Depth 0 is
            # the model itself, with its metrics.
            """
            CREATE VIEW IF NOT EXISTS model_lineage AS
            WITH
                closure AS (
                    SELECT ancestor AS node, ancestor_kind AS kind, min(depth) AS depth,
                           min(since) AS since
                    FROM model_upstream WHERE model_node = {model:String}
                    GROUP BY node, kind
                ),
                facts AS (
                    SELECT node_id, mapFromArrays(groupArray(key), groupArray(value)) AS properties
                    FROM (SELECT node_id, key, argMax(value, event_time) AS value FROM properties
                          WHERE node_id = {model:String} OR node_id IN (
                              SELECT ancestor FROM model_upstream
                              WHERE model_node = {model:String})
                          GROUP BY node_id, key)
                    GROUP BY node_id
                ),
                splits AS (
                    SELECT node, arrayStringConcat(arraySort(groupUniqArray(role)), ',') AS role
                    FROM (SELECT argMax((datasets, roles), event_time) AS t FROM model_training
                          WHERE model_node = {model:String})
                    ARRAY JOIN t.1 AS node, t.2 AS role
                    GROUP BY node
                )
            SELECT {model:String} AS model_node, l.depth AS depth, l.node AS node, l.kind AS kind,
                   s.role AS role, f.properties AS properties, l.since AS since
            FROM (SELECT node, kind, depth, since FROM closure
                  UNION ALL
                  SELECT {model:String}, 'model', 0, min(event_time) FROM nodes
                  WHERE node_id = {model:String}) AS l
            LEFT JOIN splits AS s ON s.node = l.node
            LEFT JOIN facts AS f ON f.node_id = l.node
            """,
            # What two model versions can be compared on: (aspect, key) -> value.
            """
            CREATE VIEW IF NOT EXISTS model_facts AS
            WITH lineage AS (SELECT * FROM model_lineage(model = {model:String}))
            SELECT 'dataset' AS aspect, splitByChar('@', substring(node, 9))[1] AS key,
                   arrayStringConcat(arraySort(groupArray(concat(
                       splitByChar('@', node)[2], if(role != '', concat(' (', role, ')'), '')))),
                   ', ') AS value
            FROM lineage WHERE kind = 'dataset' GROUP BY key
            UNION ALL
            SELECT 'split', concat(substring(node, 9), ' ', kv.1), kv.2
            FROM lineage ARRAY JOIN properties AS kv
            WHERE kind = 'dataset' AND startsWith(kv.1, 'split.')
            UNION ALL
            SELECT 'transformation', concat(substring(properties['job'], 5), ' ', kv.1),
                   arrayStringConcat(arraySort(groupUniqArray(kv.2)), ', ')
            FROM lineage ARRAY JOIN properties AS kv
            WHERE kind = 'run' AND properties['job'] != ''
              AND (startsWith(kv.1, 'param.') OR kv.1 IN ('code_version', 'kind', 'annotator',
                                                           'guideline_version', 'masking'))
            GROUP BY 1, 2
            UNION ALL
            SELECT 'training', kv.1, kv.2
            FROM lineage ARRAY JOIN properties AS kv
            WHERE kind = 'run' AND depth = 1
              AND (startsWith(kv.1, 'hyperparameter.') OR kv.1 = 'code_version')
            UNION ALL
            SELECT 'metric', substring(kv.1, 8), kv.2
            FROM lineage ARRAY JOIN properties AS kv
            WHERE depth = 0 AND startsWith(kv.1, 'metric.')
            UNION ALL
            SELECT 'source', substring(node, 8), 'used' FROM lineage WHERE kind = 'source'
            """,
            # Why model version b behaves differently from a: every fact that differs.
            """
            CREATE VIEW IF NOT EXISTS model_diff AS
            SELECT aspect, key,
                   multiIf(NOT a.present, 'added', NOT b.present, 'removed', 'changed') AS change,
                   a.value AS before, b.value AS after
            FROM (SELECT aspect, key, value, 1 AS present FROM model_facts(model = {a:String})) AS a
            FULL OUTER JOIN
                 (SELECT aspect, key, value, 1 AS present FROM model_facts(model = {b:String})) AS b
            USING (aspect, key)
            WHERE a.present != b.present OR a.value != b.value
            """,
            # A person, by pseudonym: where their records are, which model versions were
            # built from those, and the predictions made about them.
            """
            CREATE VIEW IF NOT EXISTS subject_holdings AS
            SELECT node_id AS node, splitByChar(':', node_id)[1] AS kind, key_id,
                   min(event_time) AS since
            FROM subject_links
            WHERE subject = {subject:String}
            GROUP BY node, kind, key_id
            """,
            """
            CREATE VIEW IF NOT EXISTS subject_models AS
            SELECT model_node AS model_version, min(depth) AS depth,
                   arrayStringConcat(arraySort(groupUniqArray(ancestor)), ', ') AS through
            FROM model_upstream
            WHERE ancestor IN (SELECT node_id FROM subject_links WHERE subject = {subject:String})
            GROUP BY model_version
            """,
            """
            CREATE VIEW IF NOT EXISTS subject_predictions AS
            SELECT served_model AS model_version, deployment, output, count() AS predictions,
                   min(event_time) AS first, max(event_time) AS last
            FROM inferences
            WHERE subject = {subject:String}
            GROUP BY model_version, deployment, output
            """,
        ),
    ),
    Migration(
        9,
        "prediction lookups by the projection indexes alone",
        (
            # The bloom filters of migration 2 are read whole for every lookup by id or by
            # person (all parts, every granule: hundreds of milliseconds at 100M rows),
            # before the projection indexes of migration 8 pick the one granule to read.
            "ALTER TABLE inferences DROP INDEX IF EXISTS by_inference",
            "ALTER TABLE inferences DROP INDEX IF EXISTS by_subject",
        ),
    ),
    Migration(
        10,
        "predictions decoded by ClickHouse from their Avro batches",
        (
            """
            CREATE TABLE IF NOT EXISTS inference_batches (
                src_topic String,
                src_partition Int32,
                src_offset Int64,
                model_node String,
                deployment String,
                event_id String,
                inferences Array(Tuple(
                    inference_id String,
                    event_time DateTime64(3, 'UTC'),
                    inputs Array(Tuple(kind String, ref String, dataset Nullable(String))),
                    output Nullable(String),
                    subject Nullable(String)
                ))
            )
            -- InferenceBatch records as the worker hands them over, in Avro: nothing is
            -- kept here, the view below turns each into its rows of inferences.
            ENGINE = Null
            """,
            """
            CREATE MATERIALIZED VIEW IF NOT EXISTS inference_batches_to_inferences
            TO inferences AS
            SELECT
                p.inference_id AS inference_id,
                model_node,
                deployment,
                p.event_time AS event_time,
                ifNull(p.subject, '') AS subject,
                arrayMap(i -> concat(i.kind, ':', i.ref), p.inputs) AS inputs,
                -- As the Python mapping: the distinct datasets named, sorted.
                arraySort(arrayDistinct(arrayFilter(
                    d -> d != '', arrayMap(i -> ifNull(i.dataset, ''), p.inputs)
                ))) AS input_datasets,
                ifNull(p.output, '') AS output,
                event_id,
                src_topic,
                toUInt32(src_partition) AS src_partition,
                toUInt64(src_offset) AS src_offset
            FROM inference_batches
            ARRAY JOIN inferences AS p
            """,
        ),
    ),
    Migration(
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
            "ALTER TABLE inferences MATERIALIZE PROJECTION by_subject_rows "
            "SETTINGS mutations_sync = 1",
            "ALTER TABLE inferences DROP PROJECTION IF EXISTS by_subject",
            # As downstream_of of migration 8, with the role of the edge that reached a node.
            """
            CREATE OR REPLACE VIEW downstream_of AS
            WITH RECURSIVE walk AS (
                SELECT dst AS node, 1 AS hops, min((src, relation, role)) AS edge,
                       min(event_time) AS since
                FROM edges
                WHERE src = {node:String} AND event_time <= {as_of:DateTime64(3, 'UTC')}
                  AND (empty({relations:Array(String)}) OR has({relations:Array(String)}, relation))
                GROUP BY dst
                UNION ALL
                SELECT e.dst, min(walk.hops) + 1, min((e.src, e.relation, e.role)),
                       min(greatest(e.event_time, walk.since))
                FROM edges AS e INNER JOIN walk ON e.src = walk.node
                WHERE walk.hops < {max_depth:UInt32} AND e.src IN (SELECT node FROM walk)
                  AND e.event_time <= {as_of:DateTime64(3, 'UTC')}
                  AND (empty({relations:Array(String)})
                       OR has({relations:Array(String)}, e.relation))
                GROUP BY e.dst
            )
            SELECT min(hops) AS depth, node, splitByChar(':', node)[1] AS kind,
                   argMin(edge, hops).2 AS relation, argMin(edge, hops).3 AS role,
                   argMin(edge, hops).1 AS via, min(since) AS since
            FROM walk
            GROUP BY node
            """,
            # What a node reaches, as a tag on it would: not past a masking run (unless the
            # node is that run) nor along a run's output written only through masking
            # columns. The predictions are counted by id: a prediction stored twice (a
            # replay, before merges) is one prediction.
            """
            CREATE OR REPLACE VIEW impact_of AS
            WITH RECURSIVE reach AS (
                SELECT {node:String} AS node, 0 AS hops
                UNION ALL
                SELECT e.dst, min(reach.hops) + 1
                FROM edges AS e INNER JOIN reach ON e.src = reach.node
                WHERE reach.hops < 100 AND e.src IN (SELECT node FROM reach)
                  AND e.event_time <= {until:DateTime64(3, 'UTC')}
                  AND (reach.hops = 0 OR (
                      e.src NOT IN (SELECT node_id FROM properties WHERE key = 'masking'
                                    GROUP BY node_id HAVING argMax(value, event_time) = 'true')
                      AND (e.src, e.dst) NOT IN (
                          SELECT concat('run:', run_id), dst_node FROM column_edges
                          GROUP BY run_id, dst_node HAVING min(masking))))
                GROUP BY e.dst
            )
            SELECT served_model AS model_version, deployment, output,
                   uniqExact(inference_id) AS predictions, uniqExact(subject) AS subjects,
                   min(event_time) AS first, max(event_time) AS last
            FROM inferences
            WHERE (model_node IN (SELECT node FROM reach WHERE startsWith(node, 'model:'))
                   OR (model_node = '' AND deployment IN (
                       SELECT node FROM reach WHERE startsWith(node, 'deployment:'))))
              AND event_time >= {since:DateTime64(3, 'UTC')}
              AND event_time < {until:DateTime64(3, 'UTC')}
            GROUP BY model_version, deployment, output
            """,
            """
            CREATE OR REPLACE VIEW subject_predictions AS
            SELECT served_model AS model_version, deployment, output,
                   uniqExact(inference_id) AS predictions,
                   min(event_time) AS first, max(event_time) AS last
            FROM inferences
            WHERE subject = {subject:String}
            GROUP BY model_version, deployment, output
            """,
            # Datasets made from a person's records, at any distance. masked = 1 when every
            # path from the records passes a masking run or masked output (anonymised
            # there), 0 when some path carries the records on as they were.
            """
            CREATE VIEW IF NOT EXISTS subject_derived AS
            WITH RECURSIVE reach AS (
                SELECT node_id AS node, 0 AS hops, toUInt8(0) AS masked
                FROM subject_links WHERE subject = {subject:String}
                UNION ALL
                SELECT e.dst, min(reach.hops) + 1,
                       toUInt8(min(reach.masked OR (
                           e.src IN (SELECT node_id FROM properties WHERE key = 'masking'
                                     GROUP BY node_id
                                     HAVING argMax(value, event_time) = 'true')
                           OR (e.src, e.dst) IN (
                               SELECT concat('run:', run_id), dst_node FROM column_edges
                               GROUP BY run_id, dst_node HAVING min(masking)))))
                FROM edges AS e INNER JOIN reach ON e.src = reach.node
                WHERE reach.hops < 100 AND e.src IN (SELECT node FROM reach)
                GROUP BY e.dst
            )
            SELECT node AS dataset, min(hops) AS depth, min(masked) AS masked
            FROM reach
            WHERE startsWith(node, 'dataset:') AND node NOT IN (
                SELECT node_id FROM subject_links WHERE subject = {subject:String})
            GROUP BY node
            """,
        ),
    ),
    Migration(
        12,
        "the same rows whatever order repeated statements arrive in: edges, column edges and "
        "subject links keep their earliest statement, nodes, properties, tags, deployments "
        "and training their newest, ties settled by run state and event id",
        (
            # An edge carries the time it became true: OpenLineage's START and COMPLETE of
            # one run both state its edges, and `--as-of` must not depend on which came last.
            *_rebuilt_with_precedence(
                "edges",
                EARLIEST_WINS,
                "(dst, src, relation, role)",
                # As migration 5 set them, for the by_src_role projection.
                ", deduplicate_merge_projection_mode = 'rebuild', "
                "lightweight_mutation_projection_mode = 'drop'",
            ),
            *_rebuilt_with_precedence(
                "column_edges",
                EARLIEST_WINS,
                "(dst_node, dst_field, src_node, src_field, transformation)",
            ),
            # Since when a person's records are held.
            *_rebuilt_with_precedence("subject_links", EARLIEST_WINS, "(subject, node_id)"),
            # What is known now of a node: the newest statement, as before.
            *(
                statement
                for table, order_by, precedence in (
                    ("nodes", "node_id", NEWEST_WINS),
                    ("properties", "(node_id, key)", NEWEST_STATE_WINS),
                    ("tags", "(node_id, tag, incident_id)", NEWEST_RETRACTION_WINS),
                    ("deployments", "(deployment, model_node, valid_from)", NEWEST_CLOSING_WINS),
                    ("model_training", "model_node", NEWEST_WINS),
                )
                for statement in _rebuilt_with_precedence(table, precedence, order_by)
            ),
        ),
    ),
    Migration(
        13,
        "prediction lookups by id from a projection sorted by id",
        (
            # `lineage attribution` asks for one prediction by id. The by_inference index
            # finds its row, then reads the table's granule of 8,192 rows around it (18 ms
            # at 100M rows); sorted by id with the columns attribution reads, in granules of
            # 256 rows, the lookup is one short range per part.
            """
            ALTER TABLE inferences ADD PROJECTION IF NOT EXISTS by_inference_rows
                (SELECT inference_id, event_time, model_node, deployment, served_model,
                        training_run, output, resolved
                 ORDER BY inference_id)
                WITH SETTINGS (index_granularity = 256)
            """,
            # Waited for, as in migration 11: the index it replaces is dropped next.
            "ALTER TABLE inferences MATERIALIZE PROJECTION by_inference_rows "
            "SETTINGS mutations_sync = 1",
            "ALTER TABLE inferences DROP PROJECTION IF EXISTS by_inference",
        ),
    ),
    Migration(
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
            # As migration 4's, with when each copy was written: a prediction written twice
            # shows twice, until merged in a scan, or until next rewritten in a lookup by
            # id; `ORDER BY written_at DESC LIMIT 1 BY inference_id` keeps the newest.
            # Collapsing copies here would hold every prediction in memory for a scan.
            f"CREATE OR REPLACE VIEW attributions AS SELECT {_ATTRIBUTIONS}, written_at "
            "FROM inferences",
            # As migration 11's, each prediction counted once under its newest copy.
            """
            CREATE OR REPLACE VIEW subject_predictions AS
            SELECT model_version, deployment, output, count() AS predictions,
                   min(event_time) AS first, max(event_time) AS last
            FROM (
                SELECT inference_id,
                       argMax(i.served_model, i.written_at) AS model_version,
                       argMax(i.deployment, i.written_at) AS deployment,
                       argMax(i.output, i.written_at) AS output,
                       argMax(i.event_time, i.written_at) AS event_time
                FROM inferences AS i
                WHERE i.subject = {subject:String}
                GROUP BY inference_id
            )
            GROUP BY model_version, deployment, output
            """,
        ),
    ),
    Migration(
        15,
        "graph tables merged column by column",
        # ClickHouse merges parts of under 131,072 rows, or of under 11 columns besides the
        # sort key, a whole row at a time: it holds a block of every column of every part
        # at once, up to 110 MB for a merge of six batches of events_raw, and the worker's
        # memory peaks when merges of several tables coincide. Column by column, the same
        # merges held 20-60 MB, and took less time. Tables with projections that merges
        # rebuild (edges, model_upstream, tag_impacts) are merged a row at a time whatever
        # is set here; inferences' parts are large enough already.
        tuple(
            f"ALTER TABLE {table} MODIFY SETTING "
            "vertical_merge_algorithm_min_rows_to_activate = 1, "
            "vertical_merge_algorithm_min_columns_to_activate = 1"
            for table in MERGED_COLUMN_BY_COLUMN
        ),
    ),
    Migration(
        16,
        "graph tables written in smaller compressed blocks",
        # Every column of a part is written, and read back by a merge, through buffers the
        # size of its largest compressed block, 1 MiB by default, whatever the column holds.
        # A merge of six batches of edges, whose projection makes it read every column of
        # every part at once, held 121 MB that way and 76 MB with 256 KiB blocks, at the
        # same size on disk (tests/processors/store/test_merges.py). In a graph backlog, merges of
        # several tables coincide with inserts and derive runs: the worker's peaks were about
        # 20 MB lower (README). inferences keeps the default: its merges held 64 MB, and
        # analysts' scans of it are long.
        tuple(
            f"ALTER TABLE {table} MODIFY SETTING max_compress_block_size = {SMALL_BLOCK_BYTES}"
            for table in SMALL_BLOCKS
        ),
    ),
)


def applied_versions(store: Store) -> set[int]:
    rows = store.query("SELECT version FROM schema_migrations FINAL").result_rows
    return {int(r[0]) for r in rows}


@contextlib.contextmanager
def migration_lock(
    store: Store,
    wait: float = LOCK_WAIT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the store's migration lock (see the module's docstring) while the body runs."""
    holder = f"{socket.gethostname()} pid {os.getpid()}"
    started = clock()
    reported = started
    while not take_lock(store, holder):
        now = clock()
        held = _holder(store)
        if now - started > wait:
            raise StoreError(
                f"another worker ({held}) has held the migration lock of database "
                f"{store.database!r} for over {wait:.0f}s. If no worker is migrating (one was "
                f"killed while it did), drop the lock: DROP TABLE `{store.database}`.{LOCK}"
            )
        if now - reported >= _LOCK_REPORT_SECONDS:
            log.warning("waiting for %s to finish migrating the store", held)
            reported = now
        pause(0.5)
    try:
        yield
    finally:
        store.command(f"DROP TABLE IF EXISTS {LOCK}")


def take_lock(store: Store, holder: str) -> bool:
    """Take the migration lock for ``holder`` if nobody has it; True if taken."""
    try:
        store.command(
            f"CREATE TABLE {LOCK} (holder String, since DateTime64(3, 'UTC') DEFAULT now64(3)) "
            "ENGINE = Memory"
        )
    except StoreError as exc:
        if "TABLE_ALREADY_EXISTS" in str(exc):
            return False
        raise
    store.client.insert(LOCK, [[holder]], column_names=["holder"])
    return True


def _holder(store: Store) -> str:
    with contextlib.suppress(StoreError):
        rows = store.query(f"SELECT holder, since FROM {LOCK} LIMIT 1").result_rows
        if rows:
            return f"{rows[0][0]}, since {rows[0][1]:%Y-%m-%d %H:%M:%S} UTC"
    return "a worker"


def migrate(store: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply every migration not yet recorded; returns the versions applied now. On a server,
    under the migration lock."""
    if store.embedded:
        return _migrate(store, migrations)
    with migration_lock(store):
        return _migrate(store, migrations)


def _migrate(store: Store, migrations: tuple[Migration, ...]) -> list[int]:
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


def apply_retention(store: Store, days: int) -> None:
    """Keep predictions ``days`` days (0: for ever), as ``LINEAGE_INFERENCE_RETENTION_DAYS``.

    A setting rather than a migration: how long predictions about people may be kept is a
    policy each deployment sets, and may change. ClickHouse drops expired rows as it
    merges; whole monthly partitions past the limit go at once. Merges that drop expired
    rows must drop them from the projections too, so they rebuild them (see migration 14);
    without a retention, merges keep the projections as they are.
    """
    mode = "rebuild" if days > 0 else "ignore"
    store.command(
        f"ALTER TABLE inferences MODIFY SETTING deduplicate_merge_projection_mode = '{mode}'"
    )
    if days > 0:
        store.command(
            f"ALTER TABLE inferences MODIFY TTL toDateTime(event_time) + INTERVAL {int(days)} DAY"
        )
    else:
        ttl = store.query(
            "SELECT engine_full FROM system.tables "
            "WHERE database = currentDatabase() AND name = 'inferences'"
        ).result_rows
        if ttl and " TTL " in str(ttl[0][0]):
            store.command("ALTER TABLE inferences REMOVE TTL")
