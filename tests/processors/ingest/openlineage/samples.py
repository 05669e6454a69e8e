"""OpenLineage events for the tests of the OpenLineage room: a START and a COMPLETE event of one
run, and ways to break them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from lineage_processors.ingest.openlineage.mapping import map_openlineage
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
