"""OpenLineage event -> rows is a pure function: exact rows, no broker, no store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lineage_collector.ids import parse_node_id
from lineage_processors.ingest.openlineage.event import event_id
from lineage_processors.ingest.openlineage.mapping import KIND
from lineage_processors.ingest.reference.mapping import RowBatch
from tests.processors.ingest.openlineage.samples import (
    JOB,
    ORDERS,
    OUT,
    PARENT,
    PRODUCER,
    ROOT,
    RUN,
    RUN_NODE,
    T1,
    T2,
    V1,
    complete_event,
    facet,
    mapped,
    start_event,
)


def test_start_event_rows() -> None:
    event = start_event()
    rows = mapped(event)
    eid = event_id(event)
    assert rows.nodes == [
        (JOB, "job", "airflow/orders_dag.load", "", "airflow", T1, eid),
        (RUN_NODE, "run", RUN, "", "airflow", T1, eid),
        (
            ORDERS,
            "dataset",
            "postgres://db:5432/shop.public.orders",
            "42",
            "postgres://db:5432",
            T1,
            eid,
        ),
    ]
    assert rows.properties == [
        (JOB, "job_type.integration", "AIRFLOW", T1, eid),
        (JOB, "job_type.job_type", "TASK", T1, eid),
        (JOB, "job_type.processing_type", "BATCH", T1, eid),
        (RUN_NODE, "param.batch_size", "500", T1, eid),
        (RUN_NODE, "param.dry_run", "", T1, eid),
        (RUN_NODE, "status", "START", T1, eid),
    ]
    assert rows.edges == [
        (JOB, RUN_NODE, "job", "", T1, RUN, eid),
        (ORDERS, RUN_NODE, "input", "", T1, RUN, eid),
    ]
    assert rows.column_edges == []
    [raw] = rows.events_raw
    assert raw[:6] == (eid, KIND, T1, PRODUCER, "airflow", RUN_NODE)
    assert json.loads(raw[6]) == event
    assert raw[7:] == ("ol", 3, 17)
    assert len(rows) == 1
    for node in [JOB, RUN_NODE, ORDERS, OUT]:
        assert str(parse_node_id(node)) == node


def newest_per_key(rows: list[tuple[Any, ...]]) -> dict[tuple[str, str], str]:
    """What ReplacingMergeTree(event_time) ORDER BY (node_id, key) keeps of properties."""
    newest: dict[tuple[str, str], tuple[datetime, str]] = {}
    for node, key, value, when, _eid in rows:
        if (node, key) not in newest or when >= newest[(node, key)][0]:
            newest[(node, key)] = (when, value)
    return {k: v for k, (_when, v) in newest.items()}


def test_start_and_complete_of_one_run_merge() -> None:
    start, complete = start_event(), complete_event()
    batch = RowBatch()
    # Arrival order is not event order: the newest event time still wins.
    batch.extend(mapped(complete))
    batch.extend(mapped(start))
    assert len(batch) == 2
    e1, e2 = event_id(start), event_id(complete)
    assert {row[0] for row in batch.nodes} == {JOB, RUN_NODE, ORDERS, OUT}
    assert batch.edges == [
        (JOB, RUN_NODE, "job", "", T2, RUN, e2),
        (RUN_NODE, OUT, "output", "", T2, RUN, e2),
        (JOB, RUN_NODE, "job", "", T1, RUN, e1),
        (ORDERS, RUN_NODE, "input", "", T1, RUN, e1),
    ]
    assert newest_per_key(batch.properties) == {
        (RUN_NODE, "status"): "COMPLETE",
        (RUN_NODE, "param.batch_size"): "500",
        (RUN_NODE, "param.dry_run"): "",
        (JOB, "job_type.integration"): "AIRFLOW",
        (JOB, "job_type.job_type"): "TASK",
        (JOB, "job_type.processing_type"): "BATCH",
    }


def test_other_event_adds_facts_but_keeps_the_status() -> None:
    event = complete_event()
    event.update(eventType="OTHER", eventTime="2026-05-01T11:00:00Z")
    event["run"]["facets"] = {
        "executionParameters": facet(parameters=[{"key": "late", "value": "yes"}])
    }
    rows = mapped(event)
    when = datetime(2026, 5, 1, 11, tzinfo=UTC)
    assert rows.properties == [(RUN_NODE, "param.late", "yes", when, event_id(event))]


def test_parent_facet_links_parent_run_and_job() -> None:
    event = complete_event()
    event["run"]["facets"] = {
        "parent": facet(
            run={"runId": PARENT},
            job={"namespace": "airflow", "name": "orders_dag"},
            root={
                "run": {"runId": ROOT},
                "job": {"namespace": "scheduler", "name": "nightly"},
            },
        )
    }
    rows = mapped(event)
    eid = event_id(event)
    assert [r for r in rows.nodes if r[0].startswith(("run:", "job:"))] == [
        (JOB, "job", "airflow/orders_dag.load", "", "airflow", T2, eid),
        (RUN_NODE, "run", RUN, "", "airflow", T2, eid),
        ("job:airflow/orders_dag", "job", "airflow/orders_dag", "", "airflow", T2, eid),
        (f"run:{PARENT}", "run", PARENT, "", "airflow", T2, eid),
    ]
    assert rows.edges[:3] == [
        (JOB, RUN_NODE, "job", "", T2, RUN, eid),
        ("job:airflow/orders_dag", f"run:{PARENT}", "job", "", T2, PARENT, eid),
        (f"run:{PARENT}", RUN_NODE, "parent", "", T2, RUN, eid),
    ]
    assert rows.properties == [
        (RUN_NODE, "parent.job", "job:airflow/orders_dag", T2, eid),
        (RUN_NODE, "parent.run", f"run:{PARENT}", T2, eid),
        (RUN_NODE, "root.job", "job:scheduler/nightly", T2, eid),
        (RUN_NODE, "root.run", f"run:{ROOT}", T2, eid),
        (RUN_NODE, "status", "COMPLETE", T2, eid),
    ]


def test_fail_with_error_message() -> None:
    event = complete_event()
    event["eventType"] = "FAIL"
    event["run"]["facets"] = {
        "errorMessage": facet(
            message="relation shop.public.orderz does not exist",
            programmingLanguage="PYTHON",
            stackTrace="Traceback ...",
        )
    }
    rows = mapped(event)
    eid = event_id(event)
    assert rows.properties == [
        (RUN_NODE, "error_message", "relation shop.public.orderz does not exist", T2, eid),
        (RUN_NODE, "status", "FAIL", T2, eid),
    ]


def test_column_lineage_names_the_versions_read() -> None:
    event = start_event(eventType="COMPLETE")
    event["inputs"].append({"namespace": "postgres://db:5432", "name": "shop.public.customers"})
    event["outputs"] = [
        {
            "namespace": "s3://lake",
            "name": "curated/orders",
            "facets": {
                "columnLineage": facet(
                    fields={
                        "order_id": {
                            "inputFields": [
                                {
                                    "namespace": "postgres://db:5432",
                                    "name": "shop.public.orders",
                                    "field": "id",
                                    "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
                                }
                            ]
                        },
                        "email_hash": {
                            "inputFields": [
                                {
                                    "namespace": "postgres://db:5432",
                                    "name": "shop.public.customers",
                                    "field": "email",
                                    "transformations": [
                                        {
                                            "type": "DIRECT",
                                            "subtype": "TRANSFORMATION",
                                            "masking": True,
                                        },
                                        {"type": "INDIRECT", "subtype": "JOIN"},
                                    ],
                                }
                            ]
                        },
                    },
                    dataset=[
                        {
                            "namespace": "postgres://db:5432",
                            "name": "shop.public.orders",
                            "field": "status",
                            "transformations": [{"type": "INDIRECT", "subtype": "FILTER"}],
                        }
                    ],
                )
            },
        }
    ]
    rows = mapped(event)
    eid = event_id(event)
    customers = "dataset:postgres://db:5432/shop.public.customers"
    assert rows.column_edges == [
        (ORDERS, "id", OUT, "order_id", "DIRECT/IDENTITY", False, T1, RUN, eid),
        (customers, "email", OUT, "email_hash", "DIRECT/TRANSFORMATION", True, T1, RUN, eid),
        (customers, "email", OUT, "email_hash", "INDIRECT/JOIN", False, T1, RUN, eid),
        (ORDERS, "status", OUT, "", "INDIRECT/FILTER", False, T1, RUN, eid),
    ]
    assert ("column_edges", rows.column_edges) in [(t[0], t[2]) for t in rows.tables()]


def test_column_lineage_of_spec_1_0_x() -> None:
    event = complete_event()
    event["outputs"][0]["facets"] = {
        "columnLineage": facet(
            fields={
                "email": {
                    "inputFields": [
                        {"namespace": "postgres://db:5432", "name": "crm.users", "field": "email"}
                    ],
                    "transformationDescription": "sha256(email)",
                    "transformationType": "MASKED",
                },
                "id": {
                    "inputFields": [
                        {"namespace": "postgres://db:5432", "name": "crm.users", "field": "id"}
                    ]
                },
            }
        )
    }
    rows = mapped(event)
    eid = event_id(event)
    users = "dataset:postgres://db:5432/crm.users"
    assert rows.column_edges == [
        (users, "email", OUT, "email", "MASKED", True, T2, RUN, eid),
        (users, "id", OUT, "id", "", False, T2, RUN, eid),
    ]


def without_ids(rows: RowBatch) -> list[list[tuple[Any, ...]]]:
    return [[r[:-1] for r in table] for name, _, table in rows.tables() if name != "events_raw"]


@pytest.mark.parametrize(
    "schema_url",
    [
        V1,
        "https://openlineage.io/spec/1-0-0/OpenLineage.json#/$defs/RunEvent",
        "https://raw.githubusercontent.com/OpenLineage/OpenLineage/main/spec/OpenLineage.json"
        "#/definitions/RunEvent",
        None,
    ],
)
def test_spec_1_schema_urls_map_like_2_0_2(schema_url: str | None) -> None:
    old = start_event(schemaURL=schema_url)
    if schema_url is None:
        del old["schemaURL"]
    # Facets of 1-x clients point into the core spec rather than one file per facet.
    old["job"]["facets"]["jobType"]["_schemaURL"] = (
        "https://raw.githubusercontent.com/OpenLineage/OpenLineage/main/spec/OpenLineage.json"
        "#/definitions/JobTypeJobFacet"
    )
    assert without_ids(mapped(old)) == without_ids(mapped(start_event()))


def test_job_and_dataset_events_of_spec_2() -> None:
    job_event = {
        "eventTime": "2026-05-01T10:05:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": {"namespace": "dbt", "name": "shop.orders"},
        "inputs": [{"namespace": "postgres://db:5432", "name": "shop.public.orders"}],
        "outputs": [{"namespace": "s3://lake", "name": "curated/orders"}],
    }
    rows = mapped(job_event)
    eid = event_id(job_event)
    src = "dataset:postgres://db:5432/shop.public.orders"
    assert rows.edges == [
        (src, "job:dbt/shop.orders", "input", "", T2, "", eid),
        ("job:dbt/shop.orders", OUT, "output", "", T2, "", eid),
    ]
    assert rows.events_raw[0][4:6] == ("dbt", "job:dbt/shop.orders")

    dataset_event = {
        "eventTime": "2026-05-01T10:05:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": {
            "namespace": "s3://lake",
            "name": "curated/orders",
            "facets": {"version": facet(datasetVersion="7")},
        },
    }
    rows = mapped(dataset_event)
    eid = event_id(dataset_event)
    assert rows.nodes == [
        (f"{OUT}@7", "dataset", "s3://lake/curated/orders", "7", "s3://lake", T2, eid)
    ]
    assert rows.edges == [] and rows.properties == []
    assert rows.events_raw[0][4:6] == ("s3://lake", f"{OUT}@7")
