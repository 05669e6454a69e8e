"""OpenLineage event -> rows is a pure function: exact rows, no broker, no store."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lineage_collector.ids import parse_node_id
from lineage_processors.ingest.openlineage import (
    KIND,
    OpenLineageDecodeError,
    OpenLineageError,
    dataset_node,
    encode_part,
    event_id,
    job_node,
    map_openlineage,
    message_key,
)
from lineage_processors.ingest.processor import Record, map_records, openlineage_mapper
from lineage_processors.ingest.reference.mapping import Origin, RowBatch

RUN = "3f5e1c2a-8b4d-4c6e-9a7f-1b2c3d4e5f60"
PARENT = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
ROOT = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
T1 = datetime(2026, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
T2 = datetime(2026, 5, 1, 10, 5, 0, tzinfo=UTC)
V2 = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
V1 = "https://openlineage.io/spec/1-0-5/OpenLineage.json#/definitions/RunEvent"
PRODUCER = "https://github.com/acme/pipelines/v1"
ORIGIN = Origin("ol", 3, 17)
JOB = "job:airflow/orders_dag.load"
RUN_NODE = f"run:{RUN}"
ORDERS = "dataset:postgres://db:5432/shop.public.orders@42"
OUT = "dataset:s3://lake/curated/orders"


def facet(**fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": "https://example.com/facet.json", **fields}


def start_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventType": "START",
        "eventTime": "2026-05-01T10:00:00.123Z",
        "producer": PRODUCER,
        "schemaURL": V2,
        "run": {
            "runId": RUN,
            "facets": {
                "executionParameters": facet(
                    parameters=[
                        {"key": "batch_size", "value": "500", "name": "Batch size"},
                        {"key": "dry_run"},
                    ]
                )
            },
        },
        "job": {
            "namespace": "airflow",
            "name": "orders_dag.load",
            "facets": {
                "jobType": facet(processingType="BATCH", integration="AIRFLOW", jobType="TASK")
            },
        },
        "inputs": [
            {
                "namespace": "postgres://db:5432",
                "name": "shop.public.orders",
                "facets": {"version": facet(datasetVersion="42")},
            }
        ],
        "outputs": [],
    }
    event.update(changes)
    return event


def complete_event() -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-05-01T12:05:00+02:00",
        "producer": PRODUCER,
        "schemaURL": V2,
        "run": {"runId": RUN.upper()},
        "job": {"namespace": "airflow", "name": "orders_dag.load"},
        "inputs": [],
        "outputs": [{"namespace": "s3://lake", "name": "curated/orders"}],
    }


def mapped(event: dict[str, Any]) -> RowBatch:
    return map_openlineage(json.dumps(event).encode(), ORIGIN)


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


@pytest.mark.parametrize(
    ("namespace", "name", "node"),
    [
        ("postgres://db:5432", "shop.public.orders", "postgres://db:5432/shop.public.orders"),
        ("s3://bucket", "path/to/file.parquet", "s3://bucket/path/to/file.parquet"),
        ("abfss://c@acct.dfs.core.windows.net", "t", "abfss://c+40acct.dfs.core.windows.net/t"),
        ("file", "/data/events/dt=2025-09-01", "file//data/events/dt+3D2025-09-01"),
        ("bigquery", "proj.ds.tbl name", "bigquery/proj.ds.tbl+20name"),
        ("kafka://b:9092", "a+b", "kafka://b:9092/a+2Bb"),
        ("hive", "données", "hive/donn+C3+A9es"),
        ("/mnt", "x", "_/mnt/x"),
        ("@home", "x", "_+40home/x"),
    ],
)
def test_namespaces_and_names_encode_into_node_ids(namespace: str, name: str, node: str) -> None:
    assert job_node(namespace, name) == f"job:{node}"
    assert dataset_node(namespace, name) == f"dataset:{node}"
    parsed = parse_node_id(dataset_node(namespace, name, "2024-05-01T00:00:00Z/a+b@c"))
    assert (parsed.kind, parsed.name, parsed.version) == (
        "dataset",
        node,
        "2024-05-01T00+3A00+3A00Z+2Fa+2Bb+40c",
    )
    assert str(parse_node_id(f"job:{node}")) == f"job:{node}"


def test_encoding_is_deterministic_and_tells_escapes_from_plus() -> None:
    assert encode_part("a+20b") == "a+2B20b"
    assert encode_part("a b") == "a+20b"
    assert encode_part("x") == encode_part("x")


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


def test_message_key_is_the_kafka_transports() -> None:
    assert message_key(start_event()) == "run:airflow/orders_dag.load"
    child = complete_event()
    child["run"]["facets"] = {
        "parent": facet(run={"runId": PARENT}, job={"namespace": "airflow", "name": "orders_dag"})
    }
    assert message_key(child) == "run:airflow/orders_dag"
    child["run"]["facets"]["parent"]["root"] = {
        "run": {"runId": ROOT},
        "job": {"namespace": "scheduler", "name": "nightly"},
    }
    assert message_key(child) == "run:scheduler/nightly"


def test_event_id_is_the_content_not_the_spelling() -> None:
    event = start_event()
    reordered = dict(reversed(list(copy.deepcopy(event).items())))
    assert event_id(reordered) == event_id(event)
    assert mapped(reordered).events_raw[0][0] == event_id(event)
    event["eventTime"] = "2026-05-01T10:00:00.124Z"
    assert event_id(event) != event_id(reordered)


def broken(path: str, value: Any) -> dict[str, Any]:
    """A START event with the field at ``path`` (dots and [i]) set to ``value``, or removed."""
    event = start_event()
    keys = [
        int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")
    ]
    target: Any = event
    for key in keys[:-1]:
        target = target[key]
    if value is ...:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (broken("run", ...), "run is missing"),
        (broken("run.runId", "run-1"), "run.runId 'run-1' is not a UUID"),
        (broken("job.name", ...), "job.name is missing"),
        (broken("job.namespace", ""), "job.namespace must not be empty"),
        (broken("job.name", 7), "job.name must be a string, not int"),
        (broken("eventTime", "yesterday"), "eventTime 'yesterday' is not an ISO 8601"),
        (broken("eventTime", "2026-05-01"), "eventTime '2026-05-01' is not an ISO 8601"),
        (broken("eventTime", "2426-05-01T00:00:00Z"), "is not between 1900 and 2299"),
        (broken("producer", ...), "producer is missing"),
        (broken("eventType", "DONE"), "eventType 'DONE' is not one of ABORT, COMPLETE"),
        (broken("eventType", ["START"]), "eventType ['START'] is not one of"),
        (broken("inputs", {}), "inputs must be a list, not dict"),
        (broken("inputs[0].namespace", None), "inputs[0].namespace is missing"),
        (
            broken("inputs[0].facets.version.datasetVersion", 42),
            "inputs[0].facets.version.datasetVersion must be a string, not int",
        ),
        (
            broken("job.facets.jobType.integration", ...),
            "job.facets.jobType.integration is missing",
        ),
        (
            broken("run.facets.executionParameters.parameters[0]", "x=1"),
            "run.facets.executionParameters.parameters[0] must be an object, not str",
        ),
        (
            broken("run.facets.parent", facet(run={"runId": PARENT}, job={"name": "x"})),
            "run.facets.parent.job.namespace is missing",
        ),
        (
            broken(
                "run.facets.parent", facet(run={"runId": RUN}, job={"namespace": "a", "name": "b"})
            ),
            "run.facets.parent.run.runId names the run itself",
        ),
        (
            broken("run.facets.errorMessage", facet(programmingLanguage="PYTHON")),
            "run.facets.errorMessage.message is missing",
        ),
        (
            broken("schemaURL", "https://example.com/my-schema.json"),
            "schemaURL 'https://example.com/my-schema.json' is not an OpenLineage spec URL",
        ),
        (
            broken(
                "schemaURL", "https://openlineage.io/spec/3-0-0/OpenLineage.json#/$defs/RunEvent"
            ),
            "schemaURL spec version 3-0-0 is not supported",
        ),
        (
            broken("schemaURL", "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/Job"),
            "schemaURL names Job; expected one of RunEvent, JobEvent, DatasetEvent",
        ),
    ],
)
def test_malformed_events_name_the_field(event: dict[str, Any], message: str) -> None:
    with pytest.raises(OpenLineageError, match=r"^invalid OpenLineage event: ") as err:
        mapped(event)
    assert message in str(err.value)


def test_column_lineage_faults_name_the_field() -> None:
    event = complete_event()
    event["outputs"][0]["facets"] = {
        "columnLineage": facet(
            fields={
                "id": {
                    "inputFields": [
                        {
                            "namespace": "n",
                            "name": "t",
                            "field": "id",
                            "transformations": [{"type": "DIRECT", "masking": "no"}],
                        }
                    ]
                }
            }
        )
    }
    with pytest.raises(OpenLineageError) as err:
        mapped(event)
    assert str(err.value) == (
        "invalid OpenLineage event: outputs[0].facets.columnLineage.fields.id.inputFields[0]"
        ".transformations[0].masking must be a boolean, not str"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe{}", "OpenLineage event is not UTF-8 text"),
        (b"{not json", "OpenLineage event is not JSON"),
        (b"[1, 2]", "OpenLineage event must be a JSON object, not list"),
        (b"[" * 100_000 + b"]" * 100_000, "OpenLineage event is nested too deeply"),
        (json.dumps(start_event(producer="\ud800")).encode(), "holds text that is not Unicode"),
    ],
)
def test_undecodable_bytes_are_decode_errors(raw: bytes, message: str) -> None:
    with pytest.raises(OpenLineageDecodeError, match=message):
        map_openlineage(raw, ORIGIN)


def test_bad_records_are_set_aside_and_neighbours_kept() -> None:
    good = json.dumps(start_event()).encode()
    records = [
        Record("ol", 0, 5, b"k", good),
        Record("ol", 0, 6, b"k", b"{oops"),
        Record("ol", 1, 9, b"k", json.dumps(broken("run.runId", "x")).encode()),
        Record("ol", 1, 10, b"k", json.dumps(complete_event()).encode()),
    ]
    batch, rejected = map_records(openlineage_mapper, records)
    assert len(batch) == 2 and len(batch.events_raw) == 2
    assert [(r.record.offset, r.stage) for r in rejected] == [(6, "decode"), (9, "map")]
    assert [r[7:] for r in batch.events_raw] == [("ol", 0, 5), ("ol", 1, 10)]


def test_a_fault_in_a_mapper_costs_one_record() -> None:
    def flaky(rec: Record) -> RowBatch:
        if rec.offset == 1:
            raise KeyError("surprise")
        return openlineage_mapper(rec)

    good = json.dumps(start_event()).encode()
    records = [Record("ol", 0, o, None, good) for o in range(3)]
    batch, rejected = map_records(flaky, records)
    assert len(batch) == 2
    assert [(r.record.offset, r.stage, type(r.error)) for r in rejected] == [(1, "map", KeyError)]
