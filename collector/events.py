"""Typed lineage events, one class per event schema in ``schemas/lineage/events/``.

An event holds what it is about; the envelope (``event_id``, ``event_time``, ``producer``,
``namespace``) is added by the client when it is emitted. ``key()`` is the node the event is
about: Kafka keeps the events of one node in order on one partition.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from lineage_collector import ids
from lineage_collector.errors import InvalidEventError, NodeIdError

RUN_STATUSES = ("STARTED", "COMPLETED", "FAILED")
TRANSFORMATION_KINDS = ("CLEAN", "FILTER", "AUGMENT", "LABEL", "FEATURE", "CHUNK", "EMBED", "OTHER")


class Event(Protocol):
    """What every event class offers the client."""

    SCHEMA: ClassVar[str]
    TOPIC: ClassVar[str]  # "events" or "inferences": which configured topic carries it

    def key(self) -> str: ...
    def validate(self) -> None: ...
    def fields(self) -> dict[str, Any]: ...


def _new_run_id() -> str:
    return str(uuid.uuid4())


def _check(event: str, build: Any) -> str:
    """Run an id builder, turning its complaint into an InvalidEventError naming the event."""
    try:
        return str(build())
    except NodeIdError as exc:
        raise InvalidEventError(f"{event}: {exc}") from None


def _require(event: str, name: str, value: Any) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidEventError(f"{event}: field {name!r} is required")


def _one_of(event: str, name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidEventError(
            f"{event}: field {name!r} is {value!r}, expected one of {', '.join(allowed)}"
        )


def _float_map(event: str, name: str, values: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            raise InvalidEventError(
                f"{event}: field {name!r} entry {key!r} is {value!r}, expected a number"
            ) from None
    return out


@dataclass(frozen=True)
class DatasetRef:
    """A dataset version as used by a run, with the role it played (train, validation, ...)."""

    name: str
    version: str
    role: str = ""

    @property
    def node_id(self) -> str:
        return ids.dataset_id(self.name, self.version)

    def record(self, default_role: str = "") -> dict[str, str]:
        return {"dataset": self.name, "version": self.version, "role": self.role or default_role}


def _check_refs(event: str, name: str, refs: Sequence[DatasetRef]) -> None:
    for i, ref in enumerate(refs):
        if not isinstance(ref, DatasetRef):
            raise InvalidEventError(f"{event}: {name}[{i}] must be a DatasetRef, got {ref!r}")
        _check(event, lambda r=ref: r.node_id)


@dataclass(frozen=True)
class InputRef:
    """Something an inference read: a feature row, a retrieved chunk, a document."""

    kind: str
    ref: str
    dataset: str | None = None  # node id of the dataset version it came from, when known

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "ref": self.ref, "dataset": self.dataset}


@dataclass(frozen=True)
class SourceExtraction:
    """Records pulled from a source system into a dataset version."""

    SCHEMA: ClassVar[str] = "lineage.events.SourceExtraction"
    TOPIC: ClassVar[str] = "events"

    source: str
    source_system: str
    uri: str
    record_count: int
    output: DatasetRef
    extraction_time: datetime | None = None  # default: the event time
    schema_fingerprint: str | None = None

    def key(self) -> str:
        return _check("SourceExtraction", lambda: ids.source_id(self.source))

    def validate(self) -> None:
        self.key()
        for name in ("source_system", "uri"):
            _require("SourceExtraction", name, getattr(self, name))
        _check_refs("SourceExtraction", "output", [self.output])

    def fields(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_system": self.source_system,
            "uri": self.uri,
            "extraction_time": self.extraction_time,
            "schema_fingerprint": self.schema_fingerprint,
            "record_count": self.record_count,
            "output": self.output.record(),
        }


@dataclass(frozen=True)
class TransformationRun:
    """A run of a transformation job; emitted at start and at completion or failure."""

    SCHEMA: ClassVar[str] = "lineage.events.TransformationRun"
    TOPIC: ClassVar[str] = "events"

    job: str
    kind: str = "OTHER"
    inputs: Sequence[DatasetRef] = ()
    outputs: Sequence[DatasetRef] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    code_version: str | None = None
    run_id: str = field(default_factory=_new_run_id)
    status: str = "COMPLETED"
    error_message: str | None = None
    annotator: str | None = None
    guideline_version: str | None = None
    masking: bool = False

    def key(self) -> str:
        # All events of one run stay in order: started before completed.
        return _check("TransformationRun", lambda: ids.run_id(self.run_id))

    def validate(self) -> None:
        self.key()
        _check("TransformationRun", lambda: ids.job_id(self.job))
        _one_of("TransformationRun", "kind", self.kind, TRANSFORMATION_KINDS)
        _one_of("TransformationRun", "status", self.status, RUN_STATUSES)
        _check_refs("TransformationRun", "inputs", self.inputs)
        _check_refs("TransformationRun", "outputs", self.outputs)

    def fields(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "run_id": self.run_id,
            "kind": self.kind,
            "parameters": {str(k): str(v) for k, v in self.parameters.items()},
            "code_version": self.code_version,
            "inputs": [d.record() for d in self.inputs],
            "outputs": [d.record() for d in self.outputs],
            "status": self.status,
            "error_message": self.error_message,
            "annotator": self.annotator,
            "guideline_version": self.guideline_version,
            "masking": self.masking,
        }


@dataclass(frozen=True)
class DatasetVersion:
    """A dataset version and what it contains."""

    SCHEMA: ClassVar[str] = "lineage.events.DatasetVersion"
    TOPIC: ClassVar[str] = "events"

    dataset: str
    version: str
    content_hash: str
    row_count: int
    schema: str | None = None
    storage_uri: str | None = None
    splits: Mapping[str, int] = field(default_factory=dict)

    def key(self) -> str:
        return _check("DatasetVersion", lambda: ids.dataset_id(self.dataset, self.version))

    def validate(self) -> None:
        self.key()
        _require("DatasetVersion", "content_hash", self.content_hash)
        if not isinstance(self.row_count, int) or self.row_count < 0:
            raise InvalidEventError(
                f"DatasetVersion: field 'row_count' is {self.row_count!r}, expected a "
                "non-negative integer"
            )

    def fields(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "content_hash": self.content_hash,
            "row_count": self.row_count,
            "schema": self.schema,
            "storage_uri": self.storage_uri,
            "splits": [{"name": k, "row_count": v} for k, v in self.splits.items()],
        }


@dataclass(frozen=True)
class SubjectLinks:
    """Pseudonymised people whose records a dataset version or source holds.

    Build it with ``LineageClient.emit_subject_links``, which pseudonymises the raw ids.
    """

    SCHEMA: ClassVar[str] = "lineage.events.SubjectLinks"
    TOPIC: ClassVar[str] = "events"

    node: str
    key_id: str
    subjects: Sequence[str]

    def key(self) -> str:
        return _check("SubjectLinks", lambda: ids.parse_node_id(self.node))

    def validate(self) -> None:
        parsed = ids.parse_node_id(self.node) if self.node else None
        if parsed is None or parsed.kind not in ("dataset", "source"):
            raise InvalidEventError(
                f"SubjectLinks: field 'node' must be a dataset or source node id, got {self.node!r}"
            )
        _require("SubjectLinks", "key_id", self.key_id)

    def fields(self) -> dict[str, Any]:
        return {"node": self.node, "key_id": self.key_id, "subjects": list(self.subjects)}


@dataclass(frozen=True)
class TrainingRun:
    """A model version trained on dataset versions."""

    SCHEMA: ClassVar[str] = "lineage.events.TrainingRun"
    TOPIC: ClassVar[str] = "events"

    model: str
    model_version: str
    datasets: Sequence[DatasetRef]
    run_id: str = field(default_factory=_new_run_id)
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    code_version: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    status: str = "COMPLETED"
    error_message: str | None = None

    def key(self) -> str:
        """The model version, so all events about it stay in order on one partition."""
        return _check("TrainingRun", lambda: ids.model_id(self.model, self.model_version))

    def validate(self) -> None:
        self.key()
        _check("TrainingRun", lambda: ids.run_id(self.run_id))
        _check_refs("TrainingRun", "datasets", self.datasets)
        if not self.datasets:
            raise InvalidEventError(
                f"TrainingRun of {self.key()}: field 'datasets' is empty; name the dataset "
                "versions the model was trained on"
            )
        _one_of("TrainingRun", "status", self.status, RUN_STATUSES)

    def fields(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "model_version": self.model_version,
            "datasets": [d.record(default_role="train") for d in self.datasets],
            "hyperparameters": {str(k): str(v) for k, v in self.hyperparameters.items()},
            "code_version": self.code_version,
            "metrics": _float_map("TrainingRun", "metrics", self.metrics),
            "status": self.status,
            "error_message": self.error_message,
        }


@dataclass(frozen=True)
class Deployment:
    """A model version serving in an environment from ``valid_from`` until ``valid_until``."""

    SCHEMA: ClassVar[str] = "lineage.events.Deployment"
    TOPIC: ClassVar[str] = "events"

    deployment: str
    environment: str
    model: str
    model_version: str
    valid_from: datetime
    valid_until: datetime | None = None

    def key(self) -> str:
        return _check("Deployment", lambda: ids.deployment_id(self.deployment))

    def validate(self) -> None:
        self.key()
        _require("Deployment", "environment", self.environment)
        _check("Deployment", lambda: ids.model_id(self.model, self.model_version))
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise InvalidEventError("Deployment: field 'valid_until' is before 'valid_from'")

    def fields(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "environment": self.environment,
            "model": self.model,
            "model_version": self.model_version,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
        }


@dataclass(frozen=True)
class Inference:
    """One prediction. ``subject`` is a pseudonym: the client makes it from the raw id."""

    SCHEMA: ClassVar[str] = "lineage.events.Inference"
    TOPIC: ClassVar[str] = "inferences"

    inference_id: str
    model: str | None = None
    model_version: str | None = None
    deployment: str | None = None
    inputs: Sequence[InputRef] = ()
    output: str | None = None
    subject: str | None = None

    def key(self) -> str:
        # Keyed by model version (or deployment): one model's predictions stay together.
        try:
            return ids.served_by(self.model, self.model_version, self.deployment)
        except NodeIdError as exc:
            raise InvalidEventError(f"Inference {self.inference_id!r}: {exc}") from None

    def validate(self) -> None:
        _require("Inference", "inference_id", self.inference_id)
        self.key()

    def fields(self) -> dict[str, Any]:
        return {
            "inference_id": self.inference_id,
            "model": self.model,
            "model_version": self.model_version,
            "deployment": self.deployment,
            "inputs": [i.record() for i in self.inputs],
            "output": self.output,
            "subject": self.subject,
        }


@dataclass(frozen=True)
class Tag:
    """A tag or incident on a node (pii, bias, corrupted-labels, ...)."""

    SCHEMA: ClassVar[str] = "lineage.events.Tag"
    TOPIC: ClassVar[str] = "events"

    node: str
    tag: str
    incident_id: str | None = None
    record_count: int | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    reason: str | None = None
    active: bool = True

    def key(self) -> str:
        return _check("Tag", lambda: ids.parse_node_id(self.node))

    def validate(self) -> None:
        self.key()
        _require("Tag", "tag", self.tag)
        if self.window_start and self.window_end and self.window_end < self.window_start:
            raise InvalidEventError("Tag: field 'window_end' is before 'window_start'")

    def fields(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "tag": self.tag,
            "incident_id": self.incident_id,
            "record_count": self.record_count,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "reason": self.reason,
            "active": self.active,
        }


EVENT_CLASSES: tuple[type[Any], ...] = (
    SourceExtraction,
    TransformationRun,
    DatasetVersion,
    SubjectLinks,
    TrainingRun,
    Deployment,
    Inference,
    Tag,
)
