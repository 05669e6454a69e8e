"""The failed_runs table: every run some statement says failed or was aborted, whichever
producer said it and whether it was stored before or after the migration that made it."""

from __future__ import annotations

from pathlib import Path

from lineage_processors.store.connect import open_store
from lineage_processors.store.migrations import MIGRATIONS
from lineage_processors.store.schema import migrate


def test_runs_said_to_fail_or_abort_are_listed_and_no_others(tmp_path: Path) -> None:
    store = open_store(f"chdb://{tmp_path / 'chdb'}", role="test")
    try:
        migrate(store, MIGRATIONS[:16], views=())
        # Stored before the table existed: found by the migration's copy.
        store.command(
            "INSERT INTO properties (node_id, key, value, event_time, event_id) VALUES "
            "('run:old-failed', 'status', 'FAILED', '2026-01-01 00:00:00', 'e1'),"
            "('run:old-done', 'status', 'COMPLETED', '2026-01-01 00:00:00', 'e2')"
        )
        migrate(store)
        # Stored after: found as they are written, from our events and OpenLineage's alike.
        store.command(
            "INSERT INTO properties (node_id, key, value, event_time, event_id) VALUES "
            "('run:a', 'status', 'STARTED', '2026-01-02 00:00:00', 'e3'),"
            "('run:a', 'status', 'FAILED', '2026-01-02 00:01:00', 'e4'),"
            "('run:b', 'status', 'FAIL', '2026-01-02 00:00:00', 'e5'),"
            "('run:c', 'status', 'ABORT', '2026-01-02 00:00:00', 'e6'),"
            "('run:d', 'status', 'COMPLETE', '2026-01-02 00:00:00', 'e7'),"
            "('model:m@1', 'status', 'FAILED', '2026-01-02 00:00:00', 'e8'),"
            "('run:e', 'param.status', 'FAILED', '2026-01-02 00:00:00', 'e9')"
        )
        rows = store.query("SELECT DISTINCT run_id, status FROM failed_runs ORDER BY run_id")
        assert rows.result_rows == [
            ("a", "FAILED"),
            ("b", "FAIL"),
            ("c", "ABORT"),
            ("old-failed", "FAILED"),
        ]
    finally:
        store.close()
