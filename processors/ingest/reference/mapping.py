"""Rows for the store: each table's columns, and the batch of rows a mapping makes. No I/O here.

Edges point downstream: ``src`` was used to make ``dst``. The mappings that make the rows live
beside this module: :mod:`lineage_processors.ingest.reference.events` for our own events,
:mod:`lineage_processors.ingest.openlineage.mapping` for OpenLineage's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

NODE_COLUMNS = ("node_id", "kind", "name", "version", "namespace", "event_time", "event_id")
PROPERTY_COLUMNS = ("node_id", "key", "value", "event_time", "event_id")
EDGE_COLUMNS = ("src", "dst", "relation", "role", "event_time", "run_id", "event_id")
SUBJECT_COLUMNS = ("subject", "key_id", "node_id", "event_time", "event_id")
INFERENCE_COLUMNS = (
    "inference_id",
    "model_node",
    "deployment",
    "event_time",
    "subject",
    "inputs",
    "input_datasets",
    "output",
    "event_id",
)
TAG_COLUMNS = (
    "node_id",
    "tag",
    "incident_id",
    "record_count",
    "window_start",
    "window_end",
    "reason",
    "active",
    "event_time",
    "event_id",
)
DEPLOYMENT_COLUMNS = (
    "deployment",
    "model_node",
    "environment",
    "valid_from",
    "valid_until",
    "event_time",
    "event_id",
)
COLUMN_EDGE_COLUMNS = (
    "src_node",
    "src_field",
    "dst_node",
    "dst_field",
    "transformation",
    "masking",
    "event_time",
    "run_id",
    "event_id",
)
# The training lineage of a model version, flattened for attribution (one row per version).
MODEL_TRAINING_COLUMNS = (
    "model_node",
    "training_run",
    "datasets",
    "roles",
    "code_version",
    "event_time",
    "event_id",
)
# One row per record sent to the dead-letter topic: where it was read, and why it failed.
DEAD_LETTER_COLUMNS = ("stage", "error_class", "error", "record_key", "record_bytes", "dead_at")
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

# Every table a batch writes, with its columns. Order matters: see ClickHouseSink.write.
TABLES: dict[str, tuple[str, ...]] = {
    "events_raw": RAW_COLUMNS,
    "nodes": NODE_COLUMNS,
    "properties": PROPERTY_COLUMNS,
    "edges": EDGE_COLUMNS,
    "subject_links": SUBJECT_COLUMNS,
    "inferences": INFERENCE_COLUMNS,
    "tags": TAG_COLUMNS,
    "deployments": DEPLOYMENT_COLUMNS,
    "column_edges": COLUMN_EDGE_COLUMNS,
    "model_training": MODEL_TRAINING_COLUMNS,
    "dead_letters": DEAD_LETTER_COLUMNS,
}


@dataclass(frozen=True)
class Origin:
    """Where a record was read from, kept with the raw event for audit and replay checks."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Source:
    """The Kafka record some rows of a batch came from, and how many rows it gave each table."""

    origin: Origin
    rows: tuple[int, ...]  # per table, in TABLES order


@dataclass
class RowBatch:
    """Rows for each table, in the column order declared above.

    ``sources`` lists, in order, the records the rows came from: each record's rows are
    contiguous in every table, so the sink can stamp every row with its Kafka offset and
    recovery can drop exactly the records a table already holds.
    """

    events_raw: list[tuple[Any, ...]] = field(default_factory=list)
    nodes: list[tuple[Any, ...]] = field(default_factory=list)
    properties: list[tuple[Any, ...]] = field(default_factory=list)
    edges: list[tuple[Any, ...]] = field(default_factory=list)
    subject_links: list[tuple[Any, ...]] = field(default_factory=list)
    inferences: list[tuple[Any, ...]] = field(default_factory=list)
    tags: list[tuple[Any, ...]] = field(default_factory=list)
    deployments: list[tuple[Any, ...]] = field(default_factory=list)
    column_edges: list[tuple[Any, ...]] = field(default_factory=list)
    model_training: list[tuple[Any, ...]] = field(default_factory=list)
    dead_letters: list[tuple[Any, ...]] = field(default_factory=list)
    events: int = 0  # events mapped into these rows
    sources: list[Source] = field(default_factory=list)
    salt: str = ""  # set when the batch must not be taken for a retry of an earlier insert

    def extend(self, other: RowBatch, origin: Origin | None = None) -> None:
        """Append ``other``'s rows; with ``origin``, remember they came from that record."""
        counts = []
        for name in TABLES:
            rows = getattr(other, name)
            getattr(self, name).extend(rows)
            counts.append(len(rows))
        self.events += other.events
        if origin is not None:
            self.sources.append(Source(origin, tuple(counts)))
        else:
            self.sources.extend(other.sources)

    def tables(self) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
        return [(name, columns, getattr(self, name)) for name, columns in TABLES.items()]

    def without(self, held: Callable[[str, Origin, int], bool]) -> RowBatch:
        """This batch less the rows the store holds already.

        ``held(table, origin, rows)`` says whether ``table`` holds the ``rows`` rows that
        the record at ``origin`` gives it; if so they are left out of that table only.
        """
        kept = RowBatch(events=self.events, salt=self.salt)
        starts = [0] * len(TABLES)
        for source in self.sources:
            o = source.origin
            counts = []
            for i, name in enumerate(TABLES):
                n = source.rows[i]
                if n and not held(name, o, n):
                    getattr(kept, name).extend(getattr(self, name)[starts[i] : starts[i] + n])
                    counts.append(n)
                else:
                    counts.append(0)
                starts[i] += n
            kept.sources.append(Source(o, tuple(counts)))
        return kept

    def add_properties(
        self, node: str, facts: dict[str, str], when: datetime, event_id: str
    ) -> None:
        self.properties.extend((node, k, v, when, event_id) for k, v in sorted(facts.items()))

    def __len__(self) -> int:
        return self.events


class MappingError(ValueError):
    """A decoded record is well-formed Avro but makes no sense as lineage."""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


# Built once: json.dumps with options builds a new encoder on every call.
_RAW_JSON = json.JSONEncoder(default=_json_default, sort_keys=True)


def raw_row(kind: str, record: dict[str, Any], subject: str, origin: Origin) -> tuple[Any, ...]:
    return (
        record["event_id"],
        kind,
        record["event_time"],
        record["producer"],
        record["namespace"],
        subject,
        _RAW_JSON.encode(record),
        origin.topic,
        origin.partition,
        origin.offset,
    )
