"""OpenLineage in: validate one OpenLineage event and map it to lineage rows. Pure, no I/O.

The worker calls :func:`map_openlineage` for every record of the OpenLineage topic, and the
HTTP endpoint calls it before forwarding a body to Kafka, so whatever the endpoint accepts the
worker can store. A malformed event raises :class:`OpenLineageError` naming the field.

What becomes what (edges point downstream, ``src`` was used to make ``dst``):

================================  ==========================================================
OpenLineage                       graph
================================  ==========================================================
job ``namespace``, ``name``       node ``job:<ns>/<name>``
run ``runId``                     node ``run:<uuid>``; edge job -> run, relation ``job``
input dataset                     node ``dataset:<ns>/<name>[@<datasetVersion>]``;
                                  edge dataset -> run, relation ``input``
output dataset                    edge run -> dataset, relation ``output``
``eventType``                     run property ``status`` (OTHER leaves it as it was)
run facet ``parent``              parent run and job nodes; edges parent job -> parent run
                                  (``job``) and parent run -> run (``parent``); run properties
                                  ``parent.run``, ``parent.job`` (and ``root.run``,
                                  ``root.job`` when the facet names a root)
run facet ``executionParameters``  run property ``param.<key>`` per parameter
run facet ``errorMessage``        run property ``error_message``
job facet ``jobType``             job properties ``job_type.processing_type``,
                                  ``job_type.integration``, ``job_type.job_type``
dataset facet ``version``         the dataset node's version
dataset facet ``columnLineage``   rows of ``column_edges``, one per input field and
                                  transformation (``dst_field`` empty: the whole dataset)
the event itself                  one ``events_raw`` row, kind ``OpenLineage``
================================  ==========================================================

Relation ``job`` reads like ``parent`` and ``input``: ``src`` is the job of ``dst``. The
several events of one run share the run node; nodes and edges only ever add up, and each
property is its own row, so the newest event's value of each key wins (``properties`` is a
ReplacingMergeTree on ``event_time``).

A JobEvent (spec 2-x) maps its job and its design-time inputs and outputs (dataset -> job,
job -> dataset, no run); a DatasetEvent maps its dataset and its column lineage.

Node names are the encoded ``<ns>/<name>`` of :mod:`lineage_processors.ingest.openlineage.names`
(the ``namespace`` column of ``nodes`` keeps the OpenLineage namespace as sent); event ids,
kinds and spec versions are read by :mod:`lineage_processors.ingest.openlineage.event`. Facets
are recognised by their key, whatever their ``_schemaURL``; both the 1-0-x
(``transformationType`` per field) and the 1-2-0 (``transformations`` per input field) forms of
``columnLineage`` are read.
"""

from __future__ import annotations

import json
from typing import Any

from lineage_processors.ingest.openlineage.event import event_id, event_kind, load_event, utf8_text
from lineage_processors.ingest.openlineage.fields import (
    OpenLineageError,
    array,
    bad,
    event_time,
    obj,
    opt_obj,
    opt_string,
    present_facets,
    string,
    type_name,
    uuid_string,
)
from lineage_processors.ingest.openlineage.names import (
    dataset_node,
    encode_version,
    job_node,
    node_name,
)
from lineage_processors.ingest.reference.mapping import Origin, RowBatch

KIND = "OpenLineage"
RUN_STATES = frozenset({"START", "RUNNING", "COMPLETE", "ABORT", "FAIL"})
EVENT_TYPES = RUN_STATES | {"OTHER"}


def map_openlineage(raw: bytes | str | dict[str, Any], origin: Origin) -> RowBatch:
    """Rows for one OpenLineage event; :class:`OpenLineageError` if it is malformed."""
    text = None if isinstance(raw, dict) else utf8_text(raw)
    event = load_event(raw if text is None else text)
    kind = event_kind(event)
    rows = _Rows(event)
    if kind == "RunEvent":
        subject = rows.run_event()
    elif kind == "JobEvent":
        subject = rows.job_event()
    else:
        subject = rows.dataset_event()
    batch = rows.batch
    # The event as received: what a replay or an audit needs is the producer's own text.
    payload = json.dumps(event, sort_keys=True) if text is None else text
    batch.events_raw.append(
        (
            rows.event_id,
            KIND,
            rows.when,
            rows.producer,
            rows.namespace,
            subject,
            payload,
            origin.topic,
            origin.partition,
            origin.offset,
        )
    )
    return batch


class _Rows:
    """Builds the rows of one event; methods named after the part of the event they read."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.when = event_time(event)
        self.producer = string(event, "producer", "")
        self.event_id = event_id(event)
        self.namespace = ""
        self.run_uuid = ""
        self.batch = RowBatch(events=1)
        self._nodes: set[str] = set()
        self._column_edges: set[tuple[Any, ...]] = set()
        # Versioned node of each input dataset, so column lineage names the version read.
        self._inputs: dict[tuple[str, str], str] = {}

    # -- events ---------------------------------------------------------------------------

    def run_event(self) -> str:
        event = self.event
        run = obj(event.get("run"), "run")
        run_uuid = self.run_uuid = uuid_string(run, "runId", "run")
        job_id, job_ns = self.job(obj(event.get("job"), "job"), "job")
        self.namespace = job_ns
        run_id = f"run:{run_uuid}"
        self.node(run_id, "run", run_uuid, "", job_ns)
        self.edge(job_id, run_id, "job", run_uuid)
        facts: dict[str, str] = {}
        event_type = event.get("eventType")
        if event_type is not None:
            if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
                raise OpenLineageError(
                    bad(
                        "eventType",
                        f"{event_type!r} is not one of {', '.join(sorted(EVENT_TYPES))}",
                    )
                )
            # OTHER only adds facts; it is no state of the run, so the status stays.
            if event_type in RUN_STATES:
                facts["status"] = event_type
        facets = present_facets(run, "facets", "run")
        if "parent" in facets:
            facts.update(self.parent(facets["parent"], run_id, "run.facets.parent"))
        if "executionParameters" in facets:
            facts.update(self.parameters(facets["executionParameters"]))
        if "errorMessage" in facets:
            facts["error_message"] = string(
                facets["errorMessage"], "message", "run.facets.errorMessage"
            )
        self.batch.add_properties(run_id, facts, self.when, self.event_id)
        for i, item in enumerate(array(event, "inputs", "")):
            node = self.dataset(item, f"inputs[{i}]", is_input=True)
            self.edge(node, run_id, "input", run_uuid)
        for i, item in enumerate(array(event, "outputs", "")):
            node = self.dataset(item, f"outputs[{i}]")
            self.edge(run_id, node, "output", run_uuid)
        return run_id

    def job_event(self) -> str:
        event = self.event
        job_id, self.namespace = self.job(obj(event.get("job"), "job"), "job")
        for i, item in enumerate(array(event, "inputs", "")):
            self.edge(self.dataset(item, f"inputs[{i}]", is_input=True), job_id, "input", "")
        for i, item in enumerate(array(event, "outputs", "")):
            self.edge(job_id, self.dataset(item, f"outputs[{i}]"), "output", "")
        return job_id

    def dataset_event(self) -> str:
        dataset = obj(self.event.get("dataset"), "dataset")
        self.namespace = string(dataset, "namespace", "dataset")
        return self.dataset(dataset, "dataset")

    # -- parts ----------------------------------------------------------------------------

    def job(self, job: dict[str, Any], path: str) -> tuple[str, str]:
        namespace, name = string(job, "namespace", path), string(job, "name", path)
        job_id = job_node(namespace, name)
        self.node(job_id, "job", node_name(namespace, name), "", namespace)
        facets = present_facets(job, "facets", path)
        if "jobType" in facets:
            facet, where = facets["jobType"], f"{path}.facets.jobType"
            facts = {
                "job_type.processing_type": string(facet, "processingType", where),
                "job_type.integration": string(facet, "integration", where),
            }
            if kind := opt_string(facet, "jobType", where):
                facts["job_type.job_type"] = kind
            self.batch.add_properties(job_id, facts, self.when, self.event_id)
        return job_id, namespace

    def parent(self, facet: dict[str, Any], run_id: str, path: str) -> dict[str, str]:
        parent_uuid = uuid_string(obj(facet.get("run"), f"{path}.run"), "runId", f"{path}.run")
        parent_job, parent_ns = self.job(obj(facet.get("job"), f"{path}.job"), f"{path}.job")
        parent_run = f"run:{parent_uuid}"
        if parent_run == run_id:
            raise OpenLineageError(bad(f"{path}.run.runId", "names the run itself"))
        self.node(parent_run, "run", parent_uuid, "", parent_ns)
        self.edge(parent_job, parent_run, "job", parent_uuid)
        self.edge(parent_run, run_id, "parent", run_id.removeprefix("run:"))
        facts = {"parent.run": parent_run, "parent.job": parent_job}
        if facet.get("root") is not None:
            root = obj(facet["root"], f"{path}.root")
            root_uuid = uuid_string(
                obj(root.get("run"), f"{path}.root.run"), "runId", f"{path}.root.run"
            )
            root_job = obj(root.get("job"), f"{path}.root.job")
            facts["root.run"] = f"run:{root_uuid}"
            facts["root.job"] = job_node(
                string(root_job, "namespace", f"{path}.root.job"),
                string(root_job, "name", f"{path}.root.job"),
            )
        return facts

    def parameters(self, facet: dict[str, Any]) -> dict[str, str]:
        path = "run.facets.executionParameters"
        facts = {}
        for i, item in enumerate(array(facet, "parameters", path)):
            where = f"{path}.parameters[{i}]"
            param = obj(item, where)
            facts[f"param.{string(param, 'key', where)}"] = opt_string(param, "value", where)
        return facts

    def dataset(self, item: Any, path: str, *, is_input: bool = False) -> str:
        dataset = obj(item, path)
        namespace, name = string(dataset, "namespace", path), string(dataset, "name", path)
        facets = present_facets(dataset, "facets", path)
        version = ""
        if "version" in facets:
            version = string(facets["version"], "datasetVersion", f"{path}.facets.version")
        node = dataset_node(namespace, name, version)
        self.node(
            node,
            "dataset",
            node_name(namespace, name),
            encode_version(version),
            namespace,
        )
        if is_input:
            self._inputs[(namespace, name)] = node
        if "columnLineage" in facets:
            self.column_lineage(facets["columnLineage"], node, f"{path}.facets.columnLineage")
        return node

    def column_lineage(self, facet: dict[str, Any], dst: str, path: str) -> None:
        fields = opt_obj(facet, "fields", path)
        for dst_field, spec in fields.items():
            where = f"{path}.fields.{dst_field}"
            spec = obj(spec, where)
            # Spec 1-0-x: one transformationType (IDENTITY|MASKED) for the whole field.
            legacy = opt_string(spec, "transformationType", where)
            for i, item in enumerate(array(spec, "inputFields", where)):
                self.input_field(item, f"{where}.inputFields[{i}]", dst, dst_field, legacy)
        # Spec 1-2-0: inputs that shape the whole dataset (filters, joins, sorting...).
        for i, item in enumerate(array(facet, "dataset", path)):
            self.input_field(item, f"{path}.dataset[{i}]", dst, "", "")

    def input_field(self, item: Any, path: str, dst: str, dst_field: str, legacy: str) -> None:
        source = obj(item, path)
        namespace, name = string(source, "namespace", path), string(source, "name", path)
        src_field = string(source, "field", path)
        src = self._inputs.get((namespace, name)) or dataset_node(namespace, name)
        transformations = array(source, "transformations", path)
        kinds: list[tuple[str, bool]] = []
        for i, t in enumerate(transformations):
            where = f"{path}.transformations[{i}]"
            t = obj(t, where)
            kind, subtype = string(t, "type", where), opt_string(t, "subtype", where)
            masking = t.get("masking")
            if masking is not None and not isinstance(masking, bool):
                raise OpenLineageError(
                    bad(f"{where}.masking", f"must be a boolean, not {type_name(masking)}")
                )
            kinds.append((f"{kind}/{subtype}" if subtype else kind, masking is True))
        if not kinds:
            kinds.append((legacy, legacy == "MASKED"))
        for transformation, masking in kinds:
            row = (src, src_field, dst, dst_field, transformation, masking)
            if row not in self._column_edges:
                self._column_edges.add(row)
                self.batch.column_edges.append((*row, self.when, self.run_uuid, self.event_id))

    def node(self, node_id: str, kind: str, name: str, version: str, namespace: str) -> None:
        # The same dataset can be read and written by one run: one node row is enough.
        if node_id not in self._nodes:
            self._nodes.add(node_id)
            self.batch.nodes.append(
                (node_id, kind, name, version, namespace, self.when, self.event_id)
            )

    def edge(self, src: str, dst: str, relation: str, run_uuid: str) -> None:
        self.batch.edges.append((src, dst, relation, "", self.when, run_uuid, self.event_id))
