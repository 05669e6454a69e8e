"""Pure mapping from decoded events to store rows. No I/O here: easy to test, easy to trust.

Edges point downstream: ``src`` was used to make ``dst``. A training run makes
``dataset@v --input--> run --output--> model@v``; the dataset's role (train, validation, ...)
rides on the input edge.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collector import ids
from collector.errors import NodeIdError

NODE_COLUMNS = ("node_id", "kind", "name", "version", "namespace", "event_time", "event_id")
PROPERTY_COLUMNS = ("node_id", "key", "value", "event_time", "event_id")
EDGE_COLUMNS = ("src", "dst", "relation", "role", "event_time", "run_id", "event_id")
RAW_COLUMNS = (
    "event_id",
    "kind",
    "event_time",
    "producer",
    "namespace",
    "subject",
    "payload",
    "topic",
    "partition",
    "offset",
)


@dataclass(frozen=True)
class Origin:
    """Where a record was read from, kept with the raw event for audit and replay checks."""

    topic: str
    partition: int
    offset: int


@dataclass
class RowBatch:
    """Rows for each table, in the column order declared above."""

    events_raw: list[tuple[Any, ...]] = field(default_factory=list)
    nodes: list[tuple[Any, ...]] = field(default_factory=list)
    properties: list[tuple[Any, ...]] = field(default_factory=list)
    edges: list[tuple[Any, ...]] = field(default_factory=list)

    def extend(self, other: RowBatch) -> None:
        self.events_raw.extend(other.events_raw)
        self.nodes.extend(other.nodes)
        self.properties.extend(other.properties)
        self.edges.extend(other.edges)

    def tables(self) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
        return [
            ("events_raw", RAW_COLUMNS, self.events_raw),
            ("nodes", NODE_COLUMNS, self.nodes),
            ("properties", PROPERTY_COLUMNS, self.properties),
            ("edges", EDGE_COLUMNS, self.edges),
        ]

    def add_properties(
        self, node: str, facts: dict[str, str], when: datetime, event_id: str
    ) -> None:
        self.properties.extend((node, k, v, when, event_id) for k, v in sorted(facts.items()))

    def __len__(self) -> int:
        return len(self.events_raw)


class MappingError(ValueError):
    """A decoded record is well-formed Avro but makes no sense as lineage."""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _raw_row(kind: str, record: dict[str, Any], subject: str, origin: Origin) -> tuple[Any, ...]:
    return (
        record["event_id"],
        kind,
        record["event_time"],
        record["producer"],
        record["namespace"],
        subject,
        json.dumps(record, default=_json_default, sort_keys=True),
        origin.topic,
        origin.partition,
        origin.offset,
    )


def map_training_run(record: dict[str, Any], origin: Origin) -> RowBatch:
    """Rows for a ``lineage.events.TrainingRun``."""
    when, eid, ns = record["event_time"], record["event_id"], record["namespace"]
    try:
        model = ids.model_id(record["model"], record["model_version"])
        run = ids.run_id(record["run_id"])
        inputs = [
            (ids.dataset_id(d["dataset"], d["version"]), d["dataset"], d["version"], d["split"])
            for d in record["datasets"]
        ]
    except NodeIdError as exc:
        raise MappingError(f"TrainingRun {record['event_id']}: {exc}") from None
    batch = RowBatch()
    batch.events_raw.append(_raw_row("TrainingRun", record, model, origin))
    run_attrs = {f"hyperparameter.{k}": v for k, v in record["hyperparameters"].items()}
    run_attrs["status"] = record["status"]
    if record["code_version"]:
        run_attrs["code_version"] = record["code_version"]
    if record["error_message"]:
        run_attrs["error_message"] = record["error_message"]
    model_attrs = {f"metric.{k}": repr(v) for k, v in record["metrics"].items()}
    batch.nodes.append((model, "model", record["model"], record["model_version"], ns, when, eid))
    batch.nodes.append((run, "run", record["run_id"], "", ns, when, eid))
    batch.add_properties(model, model_attrs, when, eid)
    batch.add_properties(run, run_attrs, when, eid)
    batch.edges.append((run, model, "output", "", when, record["run_id"], eid))
    for node, name, version, split in inputs:
        batch.nodes.append((node, "dataset", name, version, ns, when, eid))
        batch.edges.append((node, run, "input", split, when, record["run_id"], eid))
    return batch


MAPPERS: dict[str, Callable[[dict[str, Any], Origin], RowBatch]] = {
    "lineage.events.TrainingRun": map_training_run,
}


def map_event(schema_name: str, record: dict[str, Any], origin: Origin) -> RowBatch:
    """Rows for one decoded event; :class:`MappingError` if it cannot be mapped."""
    mapper = MAPPERS.get(schema_name)
    if mapper is None:
        raise MappingError(f"no mapping for events of schema {schema_name}")
    return mapper(record, origin)
