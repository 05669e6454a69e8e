"""Map each of our own event kinds (``schemas/lineage/events``) to store rows. Pure functions.

:func:`map_event` picks the mapping by the event's schema name.

The graph each kind makes (edges point downstream, ``src`` was used to make ``dst``):

===================  ==========================================================================
SourceExtraction     ``source:S --extracted--> dataset:D@V``
TransformationRun    ``job:J --job--> run:R``; ``dataset@v --input(role)--> run:R``;
                     ``run:R --output(role)--> dataset@v``
DatasetVersion       properties of ``dataset:D@V`` (hash, rows, schema, splits)
SubjectLinks         ``subject_links`` rows: pseudonym -> node
TrainingRun          ``dataset@v --input(split)--> run:R --output--> model:M@V``; when
                     completed, a ``model_training`` row (the version's attribution)
Deployment           ``model:M@V --deployed--> deployment:D``, a ``deployments`` row
Inference(Batch)     ``inferences`` rows (predictions are not graph nodes: there are too many)
Tag                  ``tags`` rows
===================  ==========================================================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lineage_collector import ids
from lineage_collector.errors import NodeIdError
from lineage_processors.ingest.reference.mapping import MappingError, Origin, RowBatch, raw_row


def iso_time(value: datetime | int) -> str:
    """ISO 8601 of a timestamp read either as a datetime or as epoch milliseconds."""
    if isinstance(value, int):
        value = datetime.fromtimestamp(value / 1000, UTC)
    return value.isoformat()


@functools.lru_cache(maxsize=65536)
def _parts(node: str) -> ids.NodeId:
    # The same datasets and models recur in event after event: split each id once.
    return ids.parse_node_id(node)


def _node(batch: RowBatch, node: str, ns: str, when: datetime, eid: str) -> None:
    parsed = _parts(node)
    batch.nodes.append((node, parsed.kind, parsed.name, parsed.version, ns, when, eid))


def _start(kind: str, record: dict[str, Any], subject: str, origin: Origin) -> RowBatch:
    batch = RowBatch(events=1)
    batch.events_raw.append(raw_row(kind, record, subject, origin))
    return batch


def _dataset_ref(ref: dict[str, Any]) -> str:
    return ids.dataset_id(ref["dataset"], ref["version"])


def map_source_extraction(record: dict[str, Any], origin: Origin) -> RowBatch:
    when, eid, ns = record["event_time"], record["event_id"], record["namespace"]
    source = ids.source_id(record["source"])
    output = _dataset_ref(record["output"])
    batch = _start("SourceExtraction", record, source, origin)
    _node(batch, source, ns, when, eid)
    _node(batch, output, ns, when, eid)
    facts = {"source_system": record["source_system"], "uri": record["uri"]}
    if record["schema_fingerprint"]:
        facts["schema_fingerprint"] = record["schema_fingerprint"]
    batch.add_properties(source, facts, when, eid)
    batch.add_properties(
        output,
        {
            "extracted_records": str(record["record_count"]),
            "extraction_time": iso_time(record["extraction_time"]),
        },
        when,
        eid,
    )
    batch.edges.append((source, output, "extracted", "", when, "", eid))
    return batch


def map_transformation_run(record: dict[str, Any], origin: Origin) -> RowBatch:
    when, eid, ns = record["event_time"], record["event_id"], record["namespace"]
    run_uuid = record["run_id"]
    run, job = ids.run_id(run_uuid), ids.job_id(record["job"])
    batch = _start("TransformationRun", record, run, origin)
    _node(batch, job, ns, when, eid)
    _node(batch, run, ns, when, eid)
    facts = {f"param.{k}": v for k, v in record["parameters"].items()}
    facts.update(
        status=record["status"],
        kind=record["kind"],
        job=job,
        masking="true" if record["masking"] else "false",
    )
    for name in ("code_version", "error_message", "annotator", "guideline_version"):
        if record[name]:
            facts[name] = record[name]
    batch.add_properties(run, facts, when, eid)
    batch.edges.append((job, run, "job", "", when, run_uuid, eid))
    for ref in record["inputs"]:
        node = _dataset_ref(ref)
        _node(batch, node, ns, when, eid)
        batch.edges.append((node, run, "input", ref["role"], when, run_uuid, eid))
    for ref in record["outputs"]:
        node = _dataset_ref(ref)
        _node(batch, node, ns, when, eid)
        batch.edges.append((run, node, "output", ref["role"], when, run_uuid, eid))
    return batch


def map_dataset_version(record: dict[str, Any], origin: Origin) -> RowBatch:
    when, eid, ns = record["event_time"], record["event_id"], record["namespace"]
    node = ids.dataset_id(record["dataset"], record["version"])
    batch = _start("DatasetVersion", record, node, origin)
    _node(batch, node, ns, when, eid)
    facts = {"content_hash": record["content_hash"], "row_count": str(record["row_count"])}
    if record["schema"]:
        facts["schema"] = record["schema"]
    if record["storage_uri"]:
        facts["storage_uri"] = record["storage_uri"]
    for split in record["splits"]:
        facts[f"split.{split['name']}.row_count"] = str(split["row_count"])
    batch.add_properties(node, facts, when, eid)
    return batch


def map_subject_links(record: dict[str, Any], origin: Origin) -> RowBatch:
    when, eid, ns = record["event_time"], record["event_id"], record["namespace"]
    node = str(ids.parse_node_id(record["node"]))
    batch = _start("SubjectLinks", record, node, origin)
    _node(batch, node, ns, when, eid)
    key_id = record["key_id"]
    batch.subject_links.extend((s, key_id, node, when, eid) for s in record["subjects"])
    return batch


def map_training_run(record: dict[str, Any], origin: Origin) -> RowBatch:
    when, eid, ns = record["event_time"], record["event_id"], record["namespace"]
    model = ids.model_id(record["model"], record["model_version"])
    run_uuid = record["run_id"]
    run = ids.run_id(run_uuid)
    inputs = [(_dataset_ref(d), d["role"]) for d in record["datasets"]]
    batch = _start("TrainingRun", record, model, origin)
    facts = {f"hyperparameter.{k}": v for k, v in record["hyperparameters"].items()}
    facts["status"] = record["status"]
    for name in ("code_version", "error_message"):
        if record[name]:
            facts[name] = record[name]
    _node(batch, model, ns, when, eid)
    _node(batch, run, ns, when, eid)
    batch.add_properties(
        model, {f"metric.{k}": repr(v) for k, v in record["metrics"].items()}, when, eid
    )
    batch.add_properties(run, facts, when, eid)
    batch.edges.append((run, model, "output", "", when, run_uuid, eid))
    for node, role in inputs:
        _node(batch, node, ns, when, eid)
        batch.edges.append((node, run, "input", role, when, run_uuid, eid))
    # A model version is what a completed run made: a started run has not made it yet and a
    # failed one never will, so neither may take over the version's attribution (a failed
    # retry of a version that exists must not un-attribute its predictions).
    if record["status"] == "COMPLETED":
        batch.model_training.append(
            (
                model,
                run,
                [node for node, _ in inputs],
                [role for _, role in inputs],
                record["code_version"] or "",
                when,
                eid,
            )
        )
    return batch


def map_deployment(record: dict[str, Any], origin: Origin) -> RowBatch:
    when, eid, ns = record["event_time"], record["event_id"], record["namespace"]
    deployment = ids.deployment_id(record["deployment"])
    model = ids.model_id(record["model"], record["model_version"])
    batch = _start("Deployment", record, deployment, origin)
    _node(batch, deployment, ns, when, eid)
    _node(batch, model, ns, when, eid)
    batch.add_properties(deployment, {"environment": record["environment"]}, when, eid)
    batch.edges.append((model, deployment, "deployed", "", record["valid_from"], "", eid))
    batch.deployments.append(
        (
            deployment,
            model,
            record["environment"],
            record["valid_from"],
            record["valid_until"],
            when,
            eid,
        )
    )
    return batch


def _served_by(record: dict[str, Any]) -> tuple[str, str]:
    return served_by(record["model"], record["model_version"], record["deployment"])


def served_by(model: str | None, version: str | None, deployment: str | None) -> tuple[str, str]:
    """Model version and deployment node ids of a prediction ("" where not given)."""
    model_node = ids.model_id(model, version) if model and version else ""
    deployment_node = ids.deployment_id(deployment) if deployment else ""
    if not model_node and not deployment_node:
        raise ValueError("neither a model version nor a deployment")
    return model_node, deployment_node


_NO_INPUTS: list[str] = []  # shared, never mutated


def _prediction_rows(
    items: list[dict[str, Any]], model: str, deployment: str, eid: str
) -> list[tuple[Any, ...]]:
    rows = []
    # The worker's hottest loop: most predictions have no inputs, so skip building lists.
    for item in items:
        inputs = item["inputs"]
        if inputs:
            refs = [f"{i['kind']}:{i['ref']}" for i in inputs]
            datasets = sorted({i["dataset"] for i in inputs if i["dataset"]})
        else:
            refs = datasets = _NO_INPUTS
        rows.append(
            (
                item["inference_id"],
                model,
                deployment,
                item["event_time"],
                item["subject"] or "",
                refs,
                datasets,
                item["output"] or "",
                eid,
            )
        )
    return rows


def map_inference(record: dict[str, Any], origin: Origin) -> RowBatch:
    # Inferences skip events_raw: at production volume the raw log would double the
    # biggest table, and the inferences table keeps every field already.
    model, deployment = _served_by(record)
    batch = RowBatch(events=1)
    batch.inferences.extend(_prediction_rows([record], model, deployment, record["event_id"]))
    return batch


def map_inference_batch(record: dict[str, Any], origin: Origin) -> RowBatch:
    model, deployment = _served_by(record)
    # One event id for the batch; each prediction's own key is its inference_id.
    batch = RowBatch(events=len(record["inferences"]))
    batch.inferences.extend(
        _prediction_rows(record["inferences"], model, deployment, record["event_id"])
    )
    return batch


def map_tag(record: dict[str, Any], origin: Origin) -> RowBatch:
    when, eid, ns = record["event_time"], record["event_id"], record["namespace"]
    node = str(ids.parse_node_id(record["node"]))
    batch = _start("Tag", record, node, origin)
    if not node.startswith("inference:"):
        _node(batch, node, ns, when, eid)
    batch.tags.append(
        (
            node,
            record["tag"],
            record["incident_id"] or "",
            record["record_count"],
            record["window_start"],
            record["window_end"],
            record["reason"] or "",
            1 if record["active"] else 0,
            when,
            eid,
        )
    )
    return batch


MAPPERS: dict[str, Callable[[dict[str, Any], Origin], RowBatch]] = {
    "lineage.events.SourceExtraction": map_source_extraction,
    "lineage.events.TransformationRun": map_transformation_run,
    "lineage.events.DatasetVersion": map_dataset_version,
    "lineage.events.SubjectLinks": map_subject_links,
    "lineage.events.TrainingRun": map_training_run,
    "lineage.events.Deployment": map_deployment,
    "lineage.events.Inference": map_inference,
    "lineage.events.InferenceBatch": map_inference_batch,
    "lineage.events.Tag": map_tag,
}


def map_event(schema_name: str, record: dict[str, Any], origin: Origin) -> RowBatch:
    """Rows for one decoded event; :class:`MappingError` if it cannot be mapped."""
    mapper = MAPPERS.get(schema_name)
    if mapper is None:
        raise MappingError(f"no mapping for events of schema {schema_name}")
    try:
        return mapper(record, origin)
    except (NodeIdError, ValueError, KeyError) as exc:
        name = schema_name.rsplit(".", 1)[-1]
        raise MappingError(f"{name} {record.get('event_id')}: {exc}") from None
