"""The catalogue of Avro schemas shipped in ``schemas/``, keyed by name and by fingerprint.

One record per ``.avsc`` file; the folder path under ``schemas/`` is the Avro namespace, so
``schemas/lineage/events/TrainingRun.avsc`` holds ``lineage.events.TrainingRun``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from collector.errors import SchemaError

SCHEMA_PACKAGE = "collector.schemas"


@dataclass(frozen=True)
class EventSchema:
    """One parsed schema with the identifiers the wire format uses for it."""

    name: str  # full name, e.g. lineage.events.TrainingRun
    parsed: dict[str, Any]  # fastavro's parsed form, ready for its readers and writers
    fingerprint: bytes  # CRC-64-AVRO of the canonical form, in wire (little-endian) order
    source: str  # file the schema came from, for error messages

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


class SchemaCatalog:
    """All schemas, looked up by full name or by single-object fingerprint."""

    def __init__(self, schemas: list[EventSchema]) -> None:
        self._by_name = {s.name: s for s in schemas}
        self._by_fingerprint = {s.fingerprint: s for s in schemas}
        if len(self._by_fingerprint) != len(schemas):
            raise SchemaError("two schema files have the same canonical form; remove one")

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def by_name(self, name: str) -> EventSchema:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise SchemaError(f"no schema named {name!r}; known schemas: {known}") from None

    def by_fingerprint(self, fp: bytes) -> EventSchema | None:
        return self._by_fingerprint.get(fp)


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


def parse_schema_file(text: str, namespace: str, source: str) -> EventSchema:
    """Parse one ``.avsc`` text, checking it declares the namespace its folder implies."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise SchemaError(f"{source}: must hold one Avro record schema")
    if raw.get("namespace") != namespace:
        raise SchemaError(
            f"{source}: namespace is {raw.get('namespace')!r} but its folder says {namespace!r}"
        )
    try:
        parsed = parse_schema(raw, _write_hint=False)
        assert isinstance(parsed, dict)
        canonical = to_parsing_canonical_form(raw)
    except Exception as exc:  # fastavro raises several unrelated types for bad schemas
        raise SchemaError(f"{source}: not a valid Avro schema ({exc})") from None
    return EventSchema(
        name=f"{namespace}.{raw['name']}",
        parsed=parsed,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        source=source,
    )


@cache
def load_catalog() -> SchemaCatalog:
    """Load every schema shipped with the package (once per process)."""
    root = resources.files(SCHEMA_PACKAGE)
    schemas = [
        parse_schema_file(
            entry.read_text(encoding="utf-8"),
            ".".join(prefix),
            "/".join(("schemas", *prefix, entry.name)),
        )
        for prefix, entry in _walk(root, ())
    ]
    if not schemas:
        raise SchemaError("no .avsc files found in the installed schemas package; reinstall")
    return SchemaCatalog(schemas)
