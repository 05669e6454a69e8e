"""Migration 12: the same rows whatever order repeated statements arrive in; eight tables
rebuilt with a precedence column as their version."""

from __future__ import annotations

from lineage_processors.store.migrations.base import DEDUP, Migration

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
    copy or the table as it was, and is dropped first. On a server, the migration lock keeps
    two workers from rebuilding the same table at once.
    """
    spare = f"{table}_rebuilding"
    return (
        f"DROP TABLE IF EXISTS {spare} SYNC",
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS precedence UInt128 "
        f"MATERIALIZED {precedence}",
        f"CREATE TABLE {spare} AS {table} ENGINE = ReplacingMergeTree(precedence) "
        f"ORDER BY {order_by} {DEDUP}{settings}",
        # Every row as it was, none collapsed on the way (merges do that later) and no
        # two equal blocks taken for a retried insert.
        f"INSERT INTO {spare} SELECT * FROM {table} "
        "SETTINGS insert_deduplicate = 0, optimize_on_insert = 0",
        f"EXCHANGE TABLES {spare} AND {table}",
        f"DROP TABLE {spare} SYNC",
    )


MIGRATION = Migration(
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
)
