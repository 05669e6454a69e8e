"""Migration 17: the runs that failed or were aborted, which build no lineage."""

from __future__ import annotations

from lineage_processors.store.migrations.base import DEDUP, Migration

# Every way a producer says a run ended without its output: our events' FAILED, and
# OpenLineage's FAIL and ABORT (ABORTED for producers that spell it so).
FAILED_STATES = "('FAILED', 'FAIL', 'ABORT', 'ABORTED')"

_FAILED = f"""
    SELECT
        substring(node_id, 5) AS run_id,
        value AS status,
        event_time
    FROM properties
    WHERE key = 'status' AND startsWith(node_id, 'run:') AND value IN {FAILED_STATES}
"""

MIGRATION = Migration(
    17,
    "failed and aborted runs",
    (
        # A run's end is final: once a run is said to have failed, no later statement makes
        # its inputs and outputs lineage again, so the set only grows and needs no FINAL.
        # Keyed like edges.run_id (the run's id without "run:"), the column walks filter on.
        f"""
        CREATE TABLE IF NOT EXISTS failed_runs (
            run_id String,
            status LowCardinality(String),
            event_time DateTime64(3, 'UTC')
        )
        ENGINE = ReplacingMergeTree
        ORDER BY run_id
        {DEDUP}
        """,
        # Fed from the run's status property, so both ingest paths and OpenLineage fill it
        # without a mapping of their own.
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS failed_runs_from_properties TO failed_runs AS "
        f"{_FAILED}",
        # The runs stored before this migration; run again after a crash, the copies collapse.
        f"INSERT INTO failed_runs {_FAILED}",
    ),
)
