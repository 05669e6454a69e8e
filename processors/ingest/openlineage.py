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

**Names.** OpenLineage namespaces are URIs (``postgres://db:5432``, ``s3://bucket``) and names
may hold any character, while node names allow letters, digits and ``_ . - / : +``. A node's
name is ``<ns>/<name>`` -- for URI namespaces, the dataset's own URI (``s3://bucket/path``) --
with every other character, and ``+`` itself, written ``+HH`` per UTF-8 byte
(``abfss://c@acct`` -> ``abfss://c+40acct``, ``a b`` -> ``a+20b``); see :func:`encode_part`.
A namespace that would start with something node names cannot start with (``/``, ``:``, an
escape) gets a leading ``_``. Versions are written the same way, ``/`` and ``:`` escaped too.
The ``namespace`` column of ``nodes`` keeps the OpenLineage namespace as sent.

**Event ids.** An OpenLineage event carries no id of its own, so ``event_id`` is the UUID5 of
its canonical JSON (keys sorted, no spaces): a replayed or retried event gets the same id and
collapses in ``events_raw``, while two different events of one run never share one, even
when they have the same type and time.

**Spec versions.** ``schemaURL`` of spec 1-x (``.../spec/1-0-5/OpenLineage.json#/definitions/
RunEvent``) and 2-x (``.../spec/2-0-2/OpenLineage.json#/$defs/RunEvent``) are accepted; an
event without one is read as a RunEvent, as spec 1-x allowed. Facets are recognised by their
key, whatever their ``_schemaURL``; both the 1-0-x (``transformationType`` per field) and the
1-2-0 (``transformations`` per input field) forms of ``columnLineage`` are read.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from lineage_collector.errors import DecodeError
from lineage_processors.ingest.reference.mapping import MappingError, Origin, RowBatch

KIND = "OpenLineage"
RUN_STATES = frozenset({"START", "RUNNING", "COMPLETE", "ABORT", "FAIL"})
EVENT_TYPES = RUN_STATES | {"OTHER"}
SUPPORTED_MAJOR_VERSIONS = frozenset({1, 2})

# Fixed, so that the same event gets the same id on every worker, forever.
EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://openlineage.io/spec/")

_SCHEMA_URL = re.compile(
    r"^https?://(?:openlineage\.io/spec/(?P<version>\d+-\d+-\d+)"
    r"|raw\.githubusercontent\.com/OpenLineage/OpenLineage/[^/]+/spec)"
    r"/OpenLineage\.json#/(?:definitions|\$defs)/(?P<kind>\w+)$"
)
_EVENT_KINDS = ("RunEvent", "JobEvent", "DatasetEvent")

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/:")
_VERSION_CHARS = _NAME_CHARS - {"/", ":"}
_FIRST_CHARS = _NAME_CHARS - {"/", ":"}


class OpenLineageError(MappingError):
    """An OpenLineage event is malformed; the message names the field and what is wrong."""


class OpenLineageDecodeError(OpenLineageError, DecodeError):
    """The bytes are not a JSON object at all (a poison record, refused at the decode stage)."""


def encode_part(text: str, *, allowed: frozenset[str] = _NAME_CHARS) -> str:
    """Write ``text`` in node-id characters: any other character becomes ``+HH`` per byte."""
    out = []
    for ch in text:
        if ch in allowed:
            out.append(ch)
        else:
            out.extend(f"+{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def node_name(namespace: str, name: str) -> str:
    """The node name of an OpenLineage job or dataset: ``<ns>/<name>``, encoded."""
    ns = encode_part(namespace)
    if not ns or ns[0] not in _FIRST_CHARS:
        ns = "_" + ns
    return f"{ns}/{encode_part(name)}"


def job_node(namespace: str, name: str) -> str:
    """``job:<ns>/<name>``."""
    return f"job:{node_name(namespace, name)}"


def dataset_node(namespace: str, name: str, version: str = "") -> str:
    """``dataset:<ns>/<name>`` or, with a datasetVersion, ``dataset:<ns>/<name>@<version>``."""
    base = f"dataset:{node_name(namespace, name)}"
    return f"{base}@{encode_part(version, allowed=_VERSION_CHARS)}" if version else base


def load_event(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The event as a JSON object; :class:`OpenLineageDecodeError` if it is not one."""
    if isinstance(raw, dict):
        return raw
    try:
        event = json.loads(_text(raw))
    except ValueError as exc:
        raise OpenLineageDecodeError(f"OpenLineage event is not JSON: {exc}") from None
    except RecursionError:
        raise OpenLineageDecodeError("OpenLineage event is nested too deeply") from None
    if not isinstance(event, dict):
        raise OpenLineageDecodeError(
            f"OpenLineage event must be a JSON object, not {type(event).__name__}"
        )
    return event


def _text(raw: bytes | str) -> str:
    # Strictly UTF-8, as the transports write it; json.loads alone would also take UTF-16.
    try:
        return raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise OpenLineageDecodeError(f"OpenLineage event is not UTF-8 text: {exc}") from None


def event_kind(event: dict[str, Any]) -> str:
    """RunEvent, JobEvent or DatasetEvent, from ``schemaURL`` (or from the shape without one)."""
    url = event.get("schemaURL")
    if url is None:
        if "run" in event or "dataset" not in event:
            return "RunEvent"
        return "DatasetEvent"
    if not isinstance(url, str):
        raise OpenLineageError(_bad("schemaURL", "must be a string"))
    match = _SCHEMA_URL.match(url)
    if match is None:
        raise OpenLineageError(
            _bad(
                "schemaURL",
                f"{url!r} is not an OpenLineage spec URL; expected e.g. "
                "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            )
        )
    if match["version"] is not None:
        major = int(match["version"].split("-")[0])
        if major not in SUPPORTED_MAJOR_VERSIONS:
            raise OpenLineageError(
                _bad("schemaURL", f"spec version {match['version']} is not supported (1-x, 2-x)")
            )
    kind = match["kind"]
    if kind not in _EVENT_KINDS:
        raise OpenLineageError(
            _bad("schemaURL", f"names {kind}; expected one of {', '.join(_EVENT_KINDS)}")
        )
    return kind


def message_key(event: dict[str, Any]) -> str:
    """The Kafka key openlineage-python's Kafka transport gives this (validated) event.

    Runs are keyed by their root job (else parent job, else own job) so that the events of a
    job's runs, and of a parent run and its children, land in one partition, in order.
    """
    kind = event_kind(event)
    if kind == "DatasetEvent":
        return f"dataset:{event['dataset']['namespace']}/{event['dataset']['name']}"
    if kind == "JobEvent":
        return f"job:{event['job']['namespace']}/{event['job']['name']}"
    job = event["job"]
    parent = ((event.get("run") or {}).get("facets") or {}).get("parent")
    if isinstance(parent, dict):
        root = parent.get("root")
        source = root.get("job") if isinstance(root, dict) else parent.get("job")
        if isinstance(source, dict) and source.get("namespace") and source.get("name"):
            job = source
    return f"run:{job['namespace']}/{job['name']}"


def event_id(event: dict[str, Any]) -> str:
    """UUID5 of the event's canonical JSON: equal events, equal ids."""
    try:
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        # Also proves every string is storable: JSON can spell lone surrogates, UTF-8 cannot.
        canonical.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise OpenLineageDecodeError(
            f"OpenLineage event holds text that is not Unicode: {exc}"
        ) from None
    except (RecursionError, ValueError, TypeError) as exc:
        raise OpenLineageDecodeError(f"OpenLineage event cannot be read as JSON: {exc}") from None
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, canonical))


def map_openlineage(raw: bytes | str | dict[str, Any], origin: Origin) -> RowBatch:
    """Rows for one OpenLineage event; :class:`OpenLineageError` if it is malformed."""
    text = None if isinstance(raw, dict) else _text(raw)
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


# -- validation helpers: each names the field by its path in the event ----------------------


def _bad(path: str, problem: str) -> str:
    return f"invalid OpenLineage event: {path} {problem}"


def _obj(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        raise OpenLineageError(_bad(path, "is missing"))
    if not isinstance(value, dict):
        raise OpenLineageError(_bad(path, f"must be an object, not {_type(value)}"))
    return value


def _opt_obj(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = parent.get(key)
    return {} if value is None else _obj(value, f"{path}.{key}")


def _list(parent: dict[str, Any], key: str, path: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise OpenLineageError(_bad(f"{path}.{key}", f"must be a list, not {_type(value)}"))
    return value


def _str(parent: dict[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    where = f"{path}.{key}" if path else key
    if value is None:
        raise OpenLineageError(_bad(where, "is missing"))
    if not isinstance(value, str):
        raise OpenLineageError(_bad(where, f"must be a string, not {_type(value)}"))
    if not value:
        raise OpenLineageError(_bad(where, "must not be empty"))
    return value


def _opt_str(parent: dict[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OpenLineageError(_bad(f"{path}.{key}", f"must be a string, not {_type(value)}"))
    return value


def _uuid(parent: dict[str, Any], key: str, path: str) -> str:
    text = _str(parent, key, path)
    try:
        # Canonical lower-case form: a parent facet's runId must meet the run's own node.
        return str(uuid.UUID(text))
    except ValueError:
        raise OpenLineageError(_bad(f"{path}.{key}", f"{text!r} is not a UUID")) from None


def _time(event: dict[str, Any]) -> datetime:
    text = _str(event, "eventTime", "")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or "T" not in text.upper():
        raise OpenLineageError(
            _bad("eventTime", f"{text!r} is not an ISO 8601 date-time (2024-05-01T12:00:00Z)")
        )
    # A time without an offset is taken as UTC, which is what producers that omit it mean.
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    # The range of ClickHouse's DateTime64: a time outside it could not be stored at all.
    if not 1900 <= when.year < 2300:
        raise OpenLineageError(_bad("eventTime", f"{text!r} is not between 1900 and 2299"))
    return when


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _facets(parent: dict[str, Any], key: str, path: str) -> dict[str, dict[str, Any]]:
    """The facets that are present; a facet sent as ``{"_deleted": true}`` is absent."""
    facets = _opt_obj(parent, key, path)
    out = {}
    for name, facet in facets.items():
        facet = _obj(facet, f"{path}.{key}.{name}")
        if facet.get("_deleted") is not True:
            out[name] = facet
    return out


class _Rows:
    """Builds the rows of one event; methods named after the part of the event they read."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.when = _time(event)
        self.producer = _str(event, "producer", "")
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
        run = _obj(event.get("run"), "run")
        run_uuid = self.run_uuid = _uuid(run, "runId", "run")
        job_id, job_ns = self.job(_obj(event.get("job"), "job"), "job")
        self.namespace = job_ns
        run_id = f"run:{run_uuid}"
        self.node(run_id, "run", run_uuid, "", job_ns)
        self.edge(job_id, run_id, "job", run_uuid)
        facts: dict[str, str] = {}
        event_type = event.get("eventType")
        if event_type is not None:
            if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
                raise OpenLineageError(
                    _bad(
                        "eventType",
                        f"{event_type!r} is not one of {', '.join(sorted(EVENT_TYPES))}",
                    )
                )
            # OTHER only adds facts; it is no state of the run, so the status stays.
            if event_type in RUN_STATES:
                facts["status"] = event_type
        facets = _facets(run, "facets", "run")
        if "parent" in facets:
            facts.update(self.parent(facets["parent"], run_id, "run.facets.parent"))
        if "executionParameters" in facets:
            facts.update(self.parameters(facets["executionParameters"]))
        if "errorMessage" in facets:
            facts["error_message"] = _str(
                facets["errorMessage"], "message", "run.facets.errorMessage"
            )
        self.batch.add_properties(run_id, facts, self.when, self.event_id)
        for i, item in enumerate(_list(event, "inputs", "")):
            node = self.dataset(item, f"inputs[{i}]", is_input=True)
            self.edge(node, run_id, "input", run_uuid)
        for i, item in enumerate(_list(event, "outputs", "")):
            node = self.dataset(item, f"outputs[{i}]")
            self.edge(run_id, node, "output", run_uuid)
        return run_id

    def job_event(self) -> str:
        event = self.event
        job_id, self.namespace = self.job(_obj(event.get("job"), "job"), "job")
        for i, item in enumerate(_list(event, "inputs", "")):
            self.edge(self.dataset(item, f"inputs[{i}]", is_input=True), job_id, "input", "")
        for i, item in enumerate(_list(event, "outputs", "")):
            self.edge(job_id, self.dataset(item, f"outputs[{i}]"), "output", "")
        return job_id

    def dataset_event(self) -> str:
        dataset = _obj(self.event.get("dataset"), "dataset")
        self.namespace = _str(dataset, "namespace", "dataset")
        return self.dataset(dataset, "dataset")

    # -- parts ----------------------------------------------------------------------------

    def job(self, job: dict[str, Any], path: str) -> tuple[str, str]:
        namespace, name = _str(job, "namespace", path), _str(job, "name", path)
        job_id = job_node(namespace, name)
        self.node(job_id, "job", node_name(namespace, name), "", namespace)
        facets = _facets(job, "facets", path)
        if "jobType" in facets:
            facet, where = facets["jobType"], f"{path}.facets.jobType"
            facts = {
                "job_type.processing_type": _str(facet, "processingType", where),
                "job_type.integration": _str(facet, "integration", where),
            }
            if kind := _opt_str(facet, "jobType", where):
                facts["job_type.job_type"] = kind
            self.batch.add_properties(job_id, facts, self.when, self.event_id)
        return job_id, namespace

    def parent(self, facet: dict[str, Any], run_id: str, path: str) -> dict[str, str]:
        parent_uuid = _uuid(_obj(facet.get("run"), f"{path}.run"), "runId", f"{path}.run")
        parent_job, parent_ns = self.job(_obj(facet.get("job"), f"{path}.job"), f"{path}.job")
        parent_run = f"run:{parent_uuid}"
        if parent_run == run_id:
            raise OpenLineageError(_bad(f"{path}.run.runId", "names the run itself"))
        self.node(parent_run, "run", parent_uuid, "", parent_ns)
        self.edge(parent_job, parent_run, "job", parent_uuid)
        self.edge(parent_run, run_id, "parent", run_id.removeprefix("run:"))
        facts = {"parent.run": parent_run, "parent.job": parent_job}
        if facet.get("root") is not None:
            root = _obj(facet["root"], f"{path}.root")
            root_uuid = _uuid(
                _obj(root.get("run"), f"{path}.root.run"), "runId", f"{path}.root.run"
            )
            root_job = _obj(root.get("job"), f"{path}.root.job")
            facts["root.run"] = f"run:{root_uuid}"
            facts["root.job"] = job_node(
                _str(root_job, "namespace", f"{path}.root.job"),
                _str(root_job, "name", f"{path}.root.job"),
            )
        return facts

    def parameters(self, facet: dict[str, Any]) -> dict[str, str]:
        path = "run.facets.executionParameters"
        facts = {}
        for i, item in enumerate(_list(facet, "parameters", path)):
            where = f"{path}.parameters[{i}]"
            param = _obj(item, where)
            facts[f"param.{_str(param, 'key', where)}"] = _opt_str(param, "value", where)
        return facts

    def dataset(self, item: Any, path: str, *, is_input: bool = False) -> str:
        dataset = _obj(item, path)
        namespace, name = _str(dataset, "namespace", path), _str(dataset, "name", path)
        facets = _facets(dataset, "facets", path)
        version = ""
        if "version" in facets:
            version = _str(facets["version"], "datasetVersion", f"{path}.facets.version")
        node = dataset_node(namespace, name, version)
        self.node(
            node,
            "dataset",
            node_name(namespace, name),
            encode_part(version, allowed=_VERSION_CHARS),
            namespace,
        )
        if is_input:
            self._inputs[(namespace, name)] = node
        if "columnLineage" in facets:
            self.column_lineage(facets["columnLineage"], node, f"{path}.facets.columnLineage")
        return node

    def column_lineage(self, facet: dict[str, Any], dst: str, path: str) -> None:
        fields = _opt_obj(facet, "fields", path)
        for dst_field, spec in fields.items():
            where = f"{path}.fields.{dst_field}"
            spec = _obj(spec, where)
            # Spec 1-0-x: one transformationType (IDENTITY|MASKED) for the whole field.
            legacy = _opt_str(spec, "transformationType", where)
            for i, item in enumerate(_list(spec, "inputFields", where)):
                self.input_field(item, f"{where}.inputFields[{i}]", dst, dst_field, legacy)
        # Spec 1-2-0: inputs that shape the whole dataset (filters, joins, sorting...).
        for i, item in enumerate(_list(facet, "dataset", path)):
            self.input_field(item, f"{path}.dataset[{i}]", dst, "", "")

    def input_field(self, item: Any, path: str, dst: str, dst_field: str, legacy: str) -> None:
        source = _obj(item, path)
        namespace, name = _str(source, "namespace", path), _str(source, "name", path)
        src_field = _str(source, "field", path)
        src = self._inputs.get((namespace, name)) or dataset_node(namespace, name)
        transformations = _list(source, "transformations", path)
        kinds: list[tuple[str, bool]] = []
        for i, t in enumerate(transformations):
            where = f"{path}.transformations[{i}]"
            t = _obj(t, where)
            kind, subtype = _str(t, "type", where), _opt_str(t, "subtype", where)
            masking = t.get("masking")
            if masking is not None and not isinstance(masking, bool):
                raise OpenLineageError(
                    _bad(f"{where}.masking", f"must be a boolean, not {_type(masking)}")
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
