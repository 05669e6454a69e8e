"""Reading the fields of an OpenLineage event, each checked and named by its path when wrong.

Every reader takes the object holding the field, the field's key and the path of that object
in the event (``run.facets.parent``), and raises :class:`OpenLineageError` saying which field
is wrong and how: ``invalid OpenLineage event: run.runId is missing``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from lineage_collector.errors import DecodeError
from lineage_processors.ingest.reference.mapping import MappingError


class OpenLineageError(MappingError):
    """An OpenLineage event is malformed; the message names the field and what is wrong."""


class OpenLineageDecodeError(OpenLineageError, DecodeError):
    """The bytes are not a JSON object at all (a poison record, refused at the decode stage)."""


def bad(path: str, problem: str) -> str:
    """The message for the field at ``path`` and its ``problem``."""
    return f"invalid OpenLineage event: {path} {problem}"


def type_name(value: Any) -> str:
    """The JSON-ish name of a value's type, for messages."""
    return "null" if value is None else type(value).__name__


def obj(value: Any, path: str) -> dict[str, Any]:
    """``value``, which must be an object."""
    if value is None:
        raise OpenLineageError(bad(path, "is missing"))
    if not isinstance(value, dict):
        raise OpenLineageError(bad(path, f"must be an object, not {type_name(value)}"))
    return value


def opt_obj(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """An optional object; ``{}`` when absent."""
    value = parent.get(key)
    return {} if value is None else obj(value, f"{path}.{key}")


def array(parent: dict[str, Any], key: str, path: str) -> list[Any]:
    """An optional list; ``[]`` when absent."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise OpenLineageError(bad(f"{path}.{key}", f"must be a list, not {type_name(value)}"))
    return value


def string(parent: dict[str, Any], key: str, path: str) -> str:
    """A string that must be there and not be empty."""
    value = parent.get(key)
    where = f"{path}.{key}" if path else key
    if value is None:
        raise OpenLineageError(bad(where, "is missing"))
    if not isinstance(value, str):
        raise OpenLineageError(bad(where, f"must be a string, not {type_name(value)}"))
    if not value:
        raise OpenLineageError(bad(where, "must not be empty"))
    return value


def opt_string(parent: dict[str, Any], key: str, path: str) -> str:
    """An optional string; ``""`` when absent."""
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OpenLineageError(bad(f"{path}.{key}", f"must be a string, not {type_name(value)}"))
    return value


def uuid_string(parent: dict[str, Any], key: str, path: str) -> str:
    """A UUID, in its canonical lower-case form."""
    text = string(parent, key, path)
    try:
        # Canonical lower-case form: a parent facet's runId must meet the run's own node.
        return str(uuid.UUID(text))
    except ValueError:
        raise OpenLineageError(bad(f"{path}.{key}", f"{text!r} is not a UUID")) from None


def event_time(event: dict[str, Any]) -> datetime:
    """The event's ``eventTime``, in UTC, within what the store can hold."""
    text = string(event, "eventTime", "")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or "T" not in text.upper():
        raise OpenLineageError(
            bad("eventTime", f"{text!r} is not an ISO 8601 date-time (2024-05-01T12:00:00Z)")
        )
    # A time without an offset is taken as UTC, which is what producers that omit it mean.
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    # The range of ClickHouse's DateTime64: a time outside it could not be stored at all.
    if not 1900 <= when.year < 2300:
        raise OpenLineageError(bad("eventTime", f"{text!r} is not between 1900 and 2299"))
    return when


def present_facets(parent: dict[str, Any], key: str, path: str) -> dict[str, dict[str, Any]]:
    """The facets that are present; a facet sent as ``{"_deleted": true}`` is absent."""
    found = opt_obj(parent, key, path)
    out = {}
    for name, facet in found.items():
        facet = obj(facet, f"{path}.{key}.{name}")
        if facet.get("_deleted") is not True:
            out[name] = facet
    return out
