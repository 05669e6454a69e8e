"""OpenLineage in, end to end: the real openlineage-python client, over its Kafka transport and
over HTTP to the worker's ``/api/v1/lineage``, into the graph as exact rows; bad input refused
over HTTP and dead-lettered from Kafka."""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
import warnings
from typing import Any

from confluent_kafka import Consumer, Producer
from openlineage.client import OpenLineageClient, event_v2
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    dataset_version_dataset,
    error_message_run,
    execution_parameters_run,
    job_type_job,
    parent_run,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.http import HttpCompression, HttpConfig, HttpTransport
from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess

with warnings.catch_warnings():
    # The spec 1-x event model: deprecated, and still what older integrations send.
    warnings.simplefilter("ignore", DeprecationWarning)
    from openlineage.client import facet as legacy_facet
    from openlineage.client import run as legacy_run

PRODUCER = "https://github.com/acme/pipelines/tree/v1"
DAG_RUN = "0190b2a4-1c2d-7e3f-8a4b-5c6d7e8f9a00"
LOAD_RUN = "0190b2a4-1c2d-7e3f-8a4b-5c6d7e8f9a01"
CHECK_RUN = "0190b2a4-1c2d-7e3f-8a4b-5c6d7e8f9a02"
LEGACY_RUN = "0190b2a4-1c2d-7e3f-8a4b-5c6d7e8f9a03"
ORDERS = "dataset:postgres://db:5432/shop.public.orders@42"
CURATED = "dataset:s3://lake/curated/orders"
LOAD = "job:airflow/orders.load"
CHECK = "job:airflow/orders.check"


def kafka_client(settings: WorkerSettings) -> OpenLineageClient:
    return OpenLineageClient(
        transport=KafkaTransport(
            KafkaConfig(
                config={"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"},
                topic=settings.topic_openlineage,
                flush=True,
            )
        )
    )


def http_client(
    settings: WorkerSettings, compression: HttpCompression | None = None
) -> OpenLineageClient:
    return OpenLineageClient(
        transport=HttpTransport(
            HttpConfig(
                url=f"http://127.0.0.1:{settings.worker_port}",
                endpoint="api/v1/lineage",
                compression=compression,
            )
        )
    )


def load_events() -> list[event_v2.RunEvent]:
    """START and COMPLETE of one task run of a DAG run, as an Airflow integration sends them."""
    job = event_v2.Job(
        namespace="airflow",
        name="orders.load",
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="AIRFLOW", jobType="TASK"
            )
        },
    )
    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=DAG_RUN), job=parent_run.Job(namespace="airflow", name="orders")
    )
    orders = event_v2.InputDataset(
        namespace="postgres://db:5432",
        name="shop.public.orders",
        facets={"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="42")},
    )
    start = event_v2.RunEvent(
        eventType=event_v2.RunState.START,
        eventTime="2026-05-01T10:00:00.000Z",
        run=event_v2.Run(
            runId=LOAD_RUN,
            facets={
                "parent": parent,
                "executionParameters": execution_parameters_run.ExecutionParametersRunFacet(
                    parameters=[
                        execution_parameters_run.ExecutionParameter(key="mode", value="full")
                    ]
                ),
            },
        ),
        job=job,
        inputs=[orders],
        producer=PRODUCER,
    )
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            "order_id": column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace="postgres://db:5432",
                        name="shop.public.orders",
                        field="id",
                        transformations=[
                            column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")
                        ],
                    )
                ]
            )
        }
    )
    complete = event_v2.RunEvent(
        eventType=event_v2.RunState.COMPLETE,
        eventTime="2026-05-01T10:04:00.000Z",
        run=event_v2.Run(runId=LOAD_RUN, facets={"parent": parent}),
        job=event_v2.Job(namespace="airflow", name="orders.load"),
        inputs=[orders],
        outputs=[
            event_v2.OutputDataset(
                namespace="s3://lake", name="curated/orders", facets={"columnLineage": lineage}
            )
        ],
        producer=PRODUCER,
    )
    return [start, complete]


def failed_check() -> event_v2.RunEvent:
    return event_v2.RunEvent(
        eventType=event_v2.RunState.FAIL,
        eventTime="2026-05-01T10:06:00.000Z",
        run=event_v2.Run(
            runId=CHECK_RUN,
            facets={
                "errorMessage": error_message_run.ErrorMessageRunFacet(
                    message="3 orders without customer", programmingLanguage="PYTHON"
                )
            },
        ),
        job=event_v2.Job(namespace="airflow", name="orders.check"),
        inputs=[event_v2.InputDataset(namespace="s3://lake", name="curated/orders")],
        producer=PRODUCER,
    )


def legacy_start() -> Any:
    """A spec 1-x event (schemaURL .../1-0-5/OpenLineage.json#/definitions/RunEvent)."""
    return legacy_run.RunEvent(
        eventType=legacy_run.RunState.START,
        eventTime="2026-05-01T10:07:00.000Z",
        run=legacy_run.Run(runId=LEGACY_RUN),
        job=legacy_run.Job(namespace="cron", name="export orders"),
        producer=PRODUCER,
        inputs=[
            legacy_run.InputDataset(
                namespace="s3://lake",
                name="curated/orders",
                facets={"version": legacy_facet.DatasetVersionDatasetFacet(datasetVersion="7")},
            )
        ],
    )


def test_openlineage_client_events_land_as_graph(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    client = kafka_client(settings)
    for event in load_events():
        client.emit(event)
    client.close()
    http_client(settings, HttpCompression.GZIP).emit(failed_check())
    http_client(settings).emit(legacy_start())

    raw = worker.wait_for("SELECT event_id, kind, subject, topic FROM events_raw", 4)
    assert sorted((r[1], r[2], r[3]) for r in raw.rows) == [
        ("OpenLineage", f"run:{LOAD_RUN}", settings.topic_openlineage),
        ("OpenLineage", f"run:{LOAD_RUN}", settings.topic_openlineage),
        ("OpenLineage", f"run:{CHECK_RUN}", settings.topic_openlineage),
        ("OpenLineage", f"run:{LEGACY_RUN}", settings.topic_openlineage),
    ]
    nodes = worker.query(
        "SELECT node_id, kind, name, version, namespace FROM nodes FINAL ORDER BY node_id"
    )
    assert nodes.rows == [
        [
            "dataset:postgres://db:5432/shop.public.orders@42",
            "dataset",
            "postgres://db:5432/shop.public.orders",
            "42",
            "postgres://db:5432",
        ],
        [CURATED, "dataset", "s3://lake/curated/orders", "", "s3://lake"],
        [f"{CURATED}@7", "dataset", "s3://lake/curated/orders", "7", "s3://lake"],
        ["job:airflow/orders", "job", "airflow/orders", "", "airflow"],
        [CHECK, "job", "airflow/orders.check", "", "airflow"],
        [LOAD, "job", "airflow/orders.load", "", "airflow"],
        ["job:cron/export+20orders", "job", "cron/export+20orders", "", "cron"],
        [f"run:{DAG_RUN}", "run", DAG_RUN, "", "airflow"],
        [f"run:{LOAD_RUN}", "run", LOAD_RUN, "", "airflow"],
        [f"run:{CHECK_RUN}", "run", CHECK_RUN, "", "airflow"],
        [f"run:{LEGACY_RUN}", "run", LEGACY_RUN, "", "cron"],
    ]
    edges = worker.query(
        "SELECT src, dst, relation, role, run_id FROM edges FINAL ORDER BY dst, src, relation"
    )
    assert edges.rows == [
        [f"run:{LOAD_RUN}", CURATED, "output", "", LOAD_RUN],
        ["job:airflow/orders", f"run:{DAG_RUN}", "job", "", DAG_RUN],
        [ORDERS, f"run:{LOAD_RUN}", "input", "", LOAD_RUN],
        [LOAD, f"run:{LOAD_RUN}", "job", "", LOAD_RUN],
        [f"run:{DAG_RUN}", f"run:{LOAD_RUN}", "parent", "", LOAD_RUN],
        [CURATED, f"run:{CHECK_RUN}", "input", "", CHECK_RUN],
        [CHECK, f"run:{CHECK_RUN}", "job", "", CHECK_RUN],
        [f"{CURATED}@7", f"run:{LEGACY_RUN}", "input", "", LEGACY_RUN],
        ["job:cron/export+20orders", f"run:{LEGACY_RUN}", "job", "", LEGACY_RUN],
    ]
    # START said status START, COMPLETE four minutes later said COMPLETE: the newest wins,
    # and the START's parameters stay although COMPLETE did not repeat them.
    props = worker.query("SELECT node_id, key, value FROM properties FINAL ORDER BY node_id, key")
    assert props.rows == [
        [LOAD, "job_type.integration", "AIRFLOW"],
        [LOAD, "job_type.job_type", "TASK"],
        [LOAD, "job_type.processing_type", "BATCH"],
        [f"run:{LOAD_RUN}", "param.mode", "full"],
        [f"run:{LOAD_RUN}", "parent.job", "job:airflow/orders"],
        [f"run:{LOAD_RUN}", "parent.run", f"run:{DAG_RUN}"],
        [f"run:{LOAD_RUN}", "status", "COMPLETE"],
        [f"run:{CHECK_RUN}", "error_message", "3 orders without customer"],
        [f"run:{CHECK_RUN}", "status", "FAIL"],
        [f"run:{LEGACY_RUN}", "status", "START"],
    ]
    columns = worker.query(
        "SELECT src_node, src_field, dst_node, dst_field, transformation, masking, run_id "
        "FROM column_edges FINAL"
    )
    assert columns.rows == [[ORDERS, "id", CURATED, "order_id", "DIRECT/IDENTITY", False, LOAD_RUN]]


def post(
    settings: WorkerSettings, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.worker_port}/api/v1/lineage",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_http_endpoint_refuses_bad_events_with_the_reason(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    good = json.loads(Serde.to_json(failed_check()))
    bad = dict(good, run={"runId": "not-a-uuid"})
    assert post(settings, json.dumps(bad).encode()) == (
        400,
        {"error": "invalid OpenLineage event: run.runId 'not-a-uuid' is not a UUID"},
    )
    status, body = post(settings, b"{nope")
    assert status == 400 and body["error"].startswith("OpenLineage event is not JSON")

    limit = settings.ingest_max_bytes
    oversize = json.dumps(dict(good, padding="x" * limit)).encode()
    assert post(settings, oversize) == (
        413,
        {"error": f"request body is over {limit} bytes, the limit (LINEAGE_INGEST_MAX_BYTES)"},
    )
    # Compressed small, but the JSON inside is over the limit all the same.
    assert post(settings, gzip.compress(oversize), {"Content-Encoding": "gzip"})[0] == 413

    status, body = post(settings, json.dumps(good).encode())
    assert status == 201
    raw = worker.wait_for("SELECT event_id, subject FROM events_raw", 1)
    assert raw.rows == [[body["event_id"], f"run:{CHECK_RUN}"]]


def dead_letters(settings: WorkerSettings, expected: int, timeout: float = 60) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.consumer_group}-dlq-reader",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([settings.topic_dlq])
    found = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append(message)
    finally:
        consumer.close()
    return found


def test_malformed_kafka_record_goes_to_the_dlq_and_its_neighbour_is_stored(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    good = Serde.to_json(failed_check()).encode()
    bad = json.dumps(dict(json.loads(good), eventType="DONE")).encode()
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    # One key, so both land in one partition, the bad one first.
    for value in (bad, good):
        producer.produce(settings.topic_openlineage, key=b"run:airflow/orders.check", value=value)
    assert producer.flush(30) == 0

    raw = worker.wait_for("SELECT subject, offset FROM events_raw", 1)
    assert raw.rows == [[f"run:{CHECK_RUN}", 1]]
    [letter] = dead_letters(settings, 1)
    assert letter.value() == bad and letter.key() == b"run:airflow/orders.check"
    headers = {k: v.decode() for k, v in letter.headers()}
    assert headers == {
        "lineage.original.topic": settings.topic_openlineage,
        "lineage.original.partition": headers["lineage.original.partition"],
        "lineage.original.offset": "0",
        "lineage.stage": "map",
        "lineage.exception.class": "OpenLineageError",
        "lineage.exception.message": "invalid OpenLineage event: eventType 'DONE' is not one of "
        "ABORT, COMPLETE, FAIL, OTHER, RUNNING, START",
    }
    assert int(headers["lineage.original.partition"]) in range(settings.topic_partitions)
