"""Events about data: extracted from a source, transformed by a run, held in a dataset version,
and the people whose records it holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from lineage_collector import ids
from lineage_collector.errors import InvalidEventError
from lineage_collector.events.fields import (
    RUN_STATUSES,
    TRANSFORMATION_KINDS,
    DatasetRef,
    check_id,
    check_refs,
    new_run_id,
    one_of,
    require,
)


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
        return check_id("SourceExtraction", lambda: ids.source_id(self.source))

    def validate(self) -> None:
        self.key()
        for name in ("source_system", "uri"):
            require("SourceExtraction", name, getattr(self, name))
        check_refs("SourceExtraction", "output", [self.output])

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
    run_id: str = field(default_factory=new_run_id)
    status: str = "COMPLETED"
    error_message: str | None = None
    annotator: str | None = None
    guideline_version: str | None = None
    masking: bool = False

    def key(self) -> str:
        # All events of one run stay in order: started before completed.
        return check_id("TransformationRun", lambda: ids.run_id(self.run_id))

    def validate(self) -> None:
        self.key()
        check_id("TransformationRun", lambda: ids.job_id(self.job))
        one_of("TransformationRun", "kind", self.kind, TRANSFORMATION_KINDS)
        one_of("TransformationRun", "status", self.status, RUN_STATUSES)
        check_refs("TransformationRun", "inputs", self.inputs)
        check_refs("TransformationRun", "outputs", self.outputs)

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
        return check_id("DatasetVersion", lambda: ids.dataset_id(self.dataset, self.version))

    def validate(self) -> None:
        self.key()
        require("DatasetVersion", "content_hash", self.content_hash)
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
        return check_id("SubjectLinks", lambda: ids.parse_node_id(self.node))

    def validate(self) -> None:
        parsed = ids.parse_node_id(self.node) if self.node else None
        if parsed is None or parsed.kind not in ("dataset", "source"):
            raise InvalidEventError(
                f"SubjectLinks: field 'node' must be a dataset or source node id, got {self.node!r}"
            )
        require("SubjectLinks", "key_id", self.key_id)

    def fields(self) -> dict[str, Any]:
        return {"node": self.node, "key_id": self.key_id, "subjects": list(self.subjects)}
