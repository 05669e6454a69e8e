"""The catalogue of Avro schemas shipped in ``schemas/``, keyed by name and by fingerprint.

One named type per ``.avsc`` file; the folder path under ``schemas/`` is the Avro namespace, so
``schemas/lineage/events/TrainingRun.avsc`` holds ``lineage.events.TrainingRun``. Events live in
``lineage.events``; the records and enums they share live in ``lineage.types`` and are referenced
by full name. Each event schema is expanded into one self-contained schema (shared types inlined
at first use): that is what is fingerprinted, registered and written.

``schemas/released/<release>/`` holds the expanded event schemas as released. They are writer
schemas only: a record written by an older SDK is decoded with the schema it was written with
and resolved into the current one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from lineage_collector.errors import SchemaError

SCHEMA_PACKAGE = "lineage_collector.schemas"
EVENT_NAMESPACE = "lineage.events"
RELEASED_FOLDER = "released"
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


@dataclass(frozen=True)
class EventSchema:
    """One self-contained event schema with the identifiers the wire formats use for it."""

    name: str  # full name, e.g. lineage.events.TrainingRun
    expanded: dict[str, Any]  # the schema with shared types inlined, as JSON
    parsed: dict[str, Any]  # fastavro's parsed form, ready for its readers and writers
    parsed_millis: dict[str, Any]  # the same with timestamps left as epoch milliseconds
    fingerprint: bytes  # CRC-64-AVRO of the canonical form, in wire (little-endian) order
    source: str  # file the schema came from, for error messages

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def canonical(self) -> str:
        return str(to_parsing_canonical_form(self.expanded))


@dataclass(frozen=True)
class WriterSchema:
    """A schema some producer writes with, and the current schema to read its records as."""

    writer: EventSchema
    reader: EventSchema

    @property
    def resolves(self) -> bool:
        """True when the writer is an older release that must be resolved into the reader."""
        return self.writer.fingerprint != self.reader.fingerprint


class SchemaCatalog:
    """Current event schemas by name, and every known writer schema by fingerprint."""

    def __init__(
        self, current: Sequence[EventSchema], released: Sequence[EventSchema] = ()
    ) -> None:
        self._by_name = {s.name: s for s in current}
        self._writers: dict[bytes, WriterSchema] = {}
        for old in released:
            reader = self._by_name.get(old.name)
            if reader is not None:
                self._writers[old.fingerprint] = WriterSchema(old, reader)
        for s in current:
            if (
                s.fingerprint in self._writers
                and self._writers[s.fingerprint].writer.name != s.name
            ):
                raise SchemaError(f"{s.source}: same canonical form as another schema")
            self._writers[s.fingerprint] = WriterSchema(s, s)

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def by_name(self, name: str) -> EventSchema:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise SchemaError(f"no schema named {name!r}; known schemas: {known}") from None

    def by_fingerprint(self, fp: bytes) -> WriterSchema | None:
        return self._writers.get(fp)


def _walk(
    folder: Traversable, prefix: tuple[str, ...]
) -> list[tuple[tuple[str, ...], Traversable]]:
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("__"):
            found.extend(_walk(entry, (*prefix, entry.name)))
        elif entry.name.endswith(".avsc"):
            found.append((prefix, entry))
    return found


def read_schema_file(text: str, namespace: str, source: str) -> dict[str, Any]:
    """Parse one ``.avsc`` text as JSON, checking it declares the namespace its folder implies."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("type") not in ("record", "enum", "fixed"):
        raise SchemaError(f"{source}: must hold one named Avro type (record, enum or fixed)")
    if raw.get("namespace") != namespace:
        raise SchemaError(
            f"{source}: namespace is {raw.get('namespace')!r} but its folder says {namespace!r}"
        )
    return raw


def expand(schema: Any, types: dict[str, dict[str, Any]], defined: set[str] | None = None) -> Any:
    """Inline referenced shared types at their first use, making the schema self-contained."""
    defined = set() if defined is None else defined
    if isinstance(schema, str):
        if schema in PRIMITIVES or schema in defined:
            return schema
        if schema not in types:
            raise SchemaError(f"unknown type {schema!r}: refer to shared types by full name")
        defined.add(schema)
        return expand(copy.deepcopy(types[schema]), types, defined)
    if isinstance(schema, list):
        return [expand(s, types, defined) for s in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    out = dict(schema)
    if kind in ("record", "enum", "fixed"):
        ns = schema.get("namespace")
        defined.add(f"{ns}.{schema['name']}" if ns else str(schema["name"]))
    if kind == "record":
        out["fields"] = [{**f, "type": expand(f["type"], types, defined)} for f in schema["fields"]]
    elif kind == "array":
        out["items"] = expand(schema["items"], types, defined)
    elif kind == "map":
        out["values"] = expand(schema["values"], types, defined)
    elif isinstance(kind, (dict, list)):
        out["type"] = expand(kind, types, defined)
    return out


def plain_timestamps(schema: Any) -> Any:
    """A copy of ``schema`` whose timestamps read as epoch milliseconds, not datetimes.

    The binary encoding is the same; the worker reads this way because ClickHouse takes the
    milliseconds as they are, and building a datetime per value only to undo it is the
    largest cost of a batch of predictions.
    """
    if isinstance(schema, list):
        return [plain_timestamps(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: plain_timestamps(v) for k, v in schema.items() if k != "fields"}
    if "fields" in schema:
        out["fields"] = [{**f, "type": plain_timestamps(f["type"])} for f in schema["fields"]]
    if out.get("logicalType") in ("timestamp-millis", "timestamp-micros"):
        del out["logicalType"]
    return out


def build_event_schema(expanded: dict[str, Any], source: str) -> EventSchema:
    """Parse and fingerprint a self-contained event schema."""
    try:
        # Parsed with fastavro's marker left in: its readers and writers then take the schema
        # as it is, instead of parsing it again on every record (two thirds of a graph event's
        # decoding time went there).
        parsed = parse_schema(copy.deepcopy(expanded))
        parsed_millis = parse_schema(plain_timestamps(expanded))
        canonical = to_parsing_canonical_form(expanded)
    except Exception as exc:  # fastavro raises several unrelated types for bad schemas
        raise SchemaError(f"{source}: not a valid Avro schema ({exc})") from None
    assert isinstance(parsed, dict) and isinstance(parsed_millis, dict)
    return EventSchema(
        name=f"{expanded['namespace']}.{expanded['name']}",
        expanded=expanded,
        parsed=parsed,
        parsed_millis=parsed_millis,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        source=source,
    )


def build_catalog(
    files: Sequence[tuple[str, str, str]], released: Sequence[tuple[str, str]] = ()
) -> SchemaCatalog:
    """A catalogue from ``(namespace, source, text)`` files and ``(source, text)`` releases."""
    raw = [(read_schema_file(text, ns, src), src) for ns, src, text in files]
    types = {f"{r['namespace']}.{r['name']}": r for r, _ in raw}
    current = [
        build_event_schema(expand(r, types), src)
        for r, src in raw
        if r["namespace"] == EVENT_NAMESPACE
    ]
    old = []
    for src, text in released:
        try:
            old.append(build_event_schema(json.loads(text), src))
        except json.JSONDecodeError as exc:
            raise SchemaError(f"{src}: not valid JSON ({exc})") from None
    return SchemaCatalog(current, old)


@cache
def load_catalog() -> SchemaCatalog:
    """Load every schema shipped with the package (once per process)."""
    root = resources.files(SCHEMA_PACKAGE)
    files: list[tuple[str, str, str]] = []
    released: list[tuple[str, str]] = []
    for prefix, entry in _walk(root, ()):
        source = "/".join(("schemas", *prefix, entry.name))
        text = entry.read_text(encoding="utf-8")
        if prefix and prefix[0] == RELEASED_FOLDER:
            released.append((source, text))
        else:
            files.append((".".join(prefix), source, text))
    if not files:
        raise SchemaError("no .avsc files found in the installed schemas package; reinstall")
    return build_catalog(files, released)


def write_release_snapshot(release: str, schemas_dir: Path) -> list[Path]:
    """Freeze the current event schemas as ``schemas/released/<release>/`` (maintainers only)."""
    target = schemas_dir / RELEASED_FOLDER / release
    if target.exists():
        raise SchemaError(f"{target} exists: a released snapshot is never rewritten")
    written = []
    for schema in load_catalog():
        path = target / Path(*schema.name.split(".")[:-1]) / f"{schema.short_name}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema.expanded, indent=2) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "snapshot":
        sys.exit("usage: python -m lineage_collector.catalog snapshot RELEASE")
    for p in write_release_snapshot(sys.argv[2], Path("schemas")):
        print(p)
