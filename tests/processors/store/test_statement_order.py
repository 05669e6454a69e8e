"""Against real chDB: a fact stated by several events is stored the same whatever order the
events arrive in. Edges, column edges and subject links keep their earliest statement (the
time they became true), nodes, properties, tags, deployments and training their newest;
statements of the same time are settled by event id. Migration 12 brings a store made
before it to the same rows."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from lineage_processors.ingest.openlineage.mapping import map_openlineage
from lineage_processors.ingest.recovery import Recovery
from lineage_processors.ingest.reference.mapping import Origin, RowBatch
from lineage_processors.store import migrate, open_store
from lineage_processors.store.connect import Store
from lineage_processors.store.migrations import MIGRATIONS
from lineage_processors.store.sink import ClickHouseSink

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
COMPLETE = datetime(2026, 5, 1, 10, 5, tzinfo=UTC)
RUN = "3f5e1c2a-8b4d-4c6e-9a7f-1b2c3d4e5f60"
RUN_NODE = f"run:{RUN}"
TABLES = (
    "nodes",
    "properties",
    "edges",
    "column_edges",
    "subject_links",
    "tags",
    "deployments",
    "model_training",
)
PROVENANCE = ("src_topic", "src_partition", "src_offset")
# As the client reads DateTime64 columns back: naive, in UTC.
START_READ, COMPLETE_READ = START.replace(tzinfo=None), COMPLETE.replace(tzinfo=None)


def openlineage(state: str, when: datetime, origin: Origin) -> RowBatch:
    """One OpenLineage event of the run, each stating its edges and column edges again."""
    column = {
        "inputFields": [
            {
                "namespace": "postgres://db",
                "name": "shop.orders",
                "field": "id",
                "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
            }
        ]
    }
    event: dict[str, Any] = {
        "eventType": state,
        "eventTime": when.isoformat().replace("+00:00", "Z"),
        "producer": "https://example.org/pipelines",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": RUN},
        "job": {"namespace": "airflow", "name": "orders.load"},
        "inputs": [{"namespace": "postgres://db", "name": "shop.orders"}],
        "outputs": [
            {
                "namespace": "s3://lake",
                "name": "curated/orders",
                "facets": {
                    "columnLineage": {
                        "_producer": "https://example.org/pipelines",
                        "_schemaURL": "https://example.org/facet.json",
                        "fields": {"order_id": column},
                    }
                },
            }
        ],
    }
    return map_openlineage(json.dumps(event), origin)


def other_facts(
    event_id: str, when: datetime, reason: str, origin: Origin, *, ended: bool = False
) -> RowBatch:
    """The facts of our own events that may be stated twice: a person's records in a dataset,
    a tag, a deployment and a model version's training; ``ended`` retracts the tag and
    closes the deployment."""
    batch = RowBatch(events=1)
    active, until = (0, COMPLETE) if ended else (1, None)
    batch.subject_links.append(
        ("pseudonym-1", "k1", "dataset:s3://lake/curated/orders", when, event_id)
    )
    batch.tags.append(
        (
            "dataset:s3://lake/curated/orders",
            "pii",
            "INC-1",
            10,
            None,
            None,
            reason,
            active,
            when,
            event_id,
        )
    )
    batch.deployments.append(
        ("deployment:prod/api", "model:churn@1.0", "prod", START, until, when, event_id)
    )
    batch.model_training.append(
        ("model:churn@1.0", f"run:{event_id}", ["dataset:d@v1"], ["train"], reason, when, event_id)
    )
    return batch


# A statement's rows, as read from a given Kafka record.
Statement = Callable[[Origin], RowBatch]


def statements() -> list[Statement]:
    """START, then COMPLETE and RUNNING at the same later time, then our own facts twice at
    one time: every kind of repeat, ties included."""
    return [
        partial(openlineage, "START", START),
        partial(openlineage, "COMPLETE", COMPLETE),
        partial(openlineage, "RUNNING", COMPLETE),
        partial(other_facts, "e-first", START, "emails in clear"),
        partial(other_facts, "e-second", START, "phone numbers in clear"),
        partial(other_facts, "e-third", START, "retracted", ended=True),
    ]


def write_in_order(store: Store, given: list[Statement]) -> None:
    """Each statement as its own insert, as records of one partition in this order."""
    sink = ClickHouseSink(store)
    for offset, statement in enumerate(given):
        origin = Origin("ol", 0, offset)
        batch = RowBatch()
        batch.extend(statement(origin), origin)
        sink.write(batch)


def final_rows(store: Store) -> dict[str, Sequence[Sequence[Any]]]:
    """Every table under FINAL, less the Kafka record each row came from."""
    out: dict[str, Sequence[Sequence[Any]]] = {}
    for table in TABLES:
        names = [
            str(r[0])
            for r in store.query(
                "SELECT name FROM system.columns WHERE database = currentDatabase() "
                "AND table = {t:String} ORDER BY position",
                {"t": table},
            ).result_rows
            if r[0] not in PROVENANCE
        ]
        listed = ", ".join(names)
        out[table] = store.query(
            f"SELECT {listed} FROM {table} FINAL ORDER BY {listed}"
        ).result_rows
    return out


def truncate(store: Store) -> None:
    for table in (*TABLES, "events_raw"):
        store.command(f"TRUNCATE TABLE {table}")


def test_the_same_statements_in_any_order_leave_the_same_rows(store: Store) -> None:
    """Pass: in order, reversed and shuffled four ways, FINAL reads the very same rows, also
    once ClickHouse has merged the parts; edges keep START's time and event, the run's node
    its newest statement (of two at one time, the one the event ids pick) and its status
    COMPLETE over RUNNING stated at the same time."""
    given = statements()
    orders = [given, given[::-1]]
    rnd = random.Random(4)
    for _ in range(4):
        orders.append(rnd.sample(given, len(given)))
    seen = []
    for batches in orders:
        truncate(store)
        write_in_order(store, batches)
        before_merge = final_rows(store)
        for table in TABLES:
            store.command(f"OPTIMIZE TABLE {table} FINAL")
        assert final_rows(store) == before_merge
        seen.append(before_merge)
    assert all(rows == seen[0] for rows in seen[1:])

    rows = seen[0]
    start, complete, running = (s(Origin("ol", 0, 0)) for s in given[:3])
    assert {(r[4], r[6]) for r in rows["edges"]} == {(START_READ, start.edges[0][-1])}
    assert len(rows["edges"]) == len(start.edges)
    assert {r[6] for r in rows["column_edges"]} == {START_READ}
    later = {complete.nodes[0][-1], running.nodes[0][-1]}
    [run] = [r for r in rows["nodes"] if r[0] == RUN_NODE]
    assert run[5] == COMPLETE_READ and run[6] in later
    # RUNNING and COMPLETE at one time: the run's state moves forward, it is complete.
    [status] = [r for r in rows["properties"] if r[:2] == (RUN_NODE, "status")]
    assert status[2:5] == ("COMPLETE", COMPLETE_READ, complete.nodes[0][-1])
    assert len(rows["subject_links"]) == len(rows["model_training"]) == 1
    # Stated, then retracted or closed, in one millisecond: retracted, closed.
    assert [(r[7], r[9]) for r in rows["tags"]] == [(0, "e-third")]
    assert [(r[4], r[6]) for r in rows["deployments"]] == [(COMPLETE_READ, "e-third")]


def test_migration_12_carries_a_store_over_with_its_rows_projections_and_settings(
    tmp_path: Path,
) -> None:
    """Pass: a store made by migrations 1-11 and fed the statements newest first keeps every
    row through migration 12 (raw counts equal), then reads under FINAL exactly as a store
    made new does; the edges keep their by_src_role projection, offset index and settings,
    and the views and dictionaries over the rebuilt tables answer. Migration 12 cut short
    after any step and run again ends the same."""
    given = statements()
    fresh = open_store(f"chdb://{tmp_path / 'fresh'}", role="test")
    try:
        migrate(fresh)
        write_in_order(fresh, given)
        want = final_rows(fresh)
    finally:
        fresh.close()

    store = open_store(f"chdb://{tmp_path / 'old'}", role="test")
    try:
        migrate(store, tuple(m for m in MIGRATIONS if m.version < 12))
        write_in_order(store, given[::-1])
        counts = raw_counts(store)
        migrate(store)
        assert raw_counts(store) == counts
        assert final_rows(store) == want
        edges = store.query(
            "SELECT engine_full FROM system.tables "
            "WHERE database = currentDatabase() AND name = 'edges'"
        ).result_rows[0][0]
        assert "ReplacingMergeTree(precedence)" in edges
        for setting in (
            "non_replicated_deduplication_window = 10000",
            "deduplicate_merge_projection_mode = 'rebuild'",
            "lightweight_mutation_projection_mode = 'drop'",
        ):
            assert setting in edges
        create = store.query("SHOW CREATE TABLE edges").result_rows[0][0]
        assert "PROJECTION by_src_role" in create and "INDEX by_source_offset" in create
        since = store.query(
            "SELECT since FROM upstream_of(node = 'dataset:s3://lake/curated/orders', "
            "max_depth = 1, as_of = now64(3), relations = [])"
        ).result_rows
        assert since == [(START_READ,)]
        store.command("SYSTEM RELOAD DICTIONARY model_training_dict")
        run = store.query(
            "SELECT dictGet('model_training_dict', 'training_run', 'model:churn@1.0')"
        ).result_rows[0][0]
        assert run == want["model_training"][0][1]

        # Cut short: before the swap, and after it (the spare table left behind).
        [twelve] = [m for m in MIGRATIONS if m.version == 12]
        for cut in (4, 5):
            for statement in twelve.statements[:cut]:
                store.command(statement)
            for statement in twelve.statements:
                store.command(statement)
            assert raw_counts(store) == counts
            assert final_rows(store) == want
        left = store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND name LIKE '%rebuilding'"
        ).result_rows
        assert left == []
    finally:
        store.close()


def raw_counts(store: Store) -> dict[str, int]:
    return {t: int(store.query(f"SELECT count() FROM {t}").result_rows[0][0]) for t in TABLES}


def test_records_whose_rows_a_merge_dropped_are_still_held_for_recovery(store: Store) -> None:
    """Pass: COMPLETE, the last record of the partition, loses its edge rows to START's in a
    merge; a worker reading both records again still finds both stored and writes nothing,
    so no table gets a row twice."""

    def both() -> RowBatch:
        batch = RowBatch()
        for offset, state, when in ((0, "START", START), (1, "COMPLETE", COMPLETE)):
            origin = Origin("ol", 0, offset)
            batch.extend(openlineage(state, when, origin), origin)
        return batch

    ClickHouseSink(store).write(both())
    store.command("OPTIMIZE TABLE edges FINAL")
    store.command("OPTIMIZE TABLE column_edges FINAL")
    held = store.query("SELECT max(src_offset) FROM edges").result_rows
    assert held == [(0,)]  # the merge did drop the newer record's rows

    kept = Recovery().filter(store, both(), {("ol", 0): 0})
    assert [s.origin.offset for s in kept.sources if any(s.rows)] == []
