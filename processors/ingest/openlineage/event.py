"""One OpenLineage event as a whole: its bytes read as JSON, its kind, its id and its Kafka key.

The HTTP endpoint and the worker read events alike, so whatever the endpoint accepts the
worker can store.

**Event ids.** An OpenLineage event carries no id of its own, so ``event_id`` is the UUID5 of
its canonical JSON (keys sorted, no spaces): a replayed or retried event gets the same id and
collapses in ``events_raw``, while two different events of one run never share one, even
when they have the same type and time.

**Spec versions.** ``schemaURL`` of spec 1-x (``.../spec/1-0-5/OpenLineage.json#/definitions/
RunEvent``) and 2-x (``.../spec/2-0-2/OpenLineage.json#/$defs/RunEvent``) are accepted; an
event without one is read as a RunEvent, as spec 1-x allowed.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from lineage_processors.ingest.openlineage.fields import (
    OpenLineageDecodeError,
    OpenLineageError,
    bad,
)

SUPPORTED_MAJOR_VERSIONS = frozenset({1, 2})

# Fixed, so that the same event gets the same id on every worker, forever.
EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://openlineage.io/spec/")

_SCHEMA_URL = re.compile(
    r"^https?://(?:openlineage\.io/spec/(?P<version>\d+-\d+-\d+)"
    r"|raw\.githubusercontent\.com/OpenLineage/OpenLineage/[^/]+/spec)"
    r"/OpenLineage\.json#/(?:definitions|\$defs)/(?P<kind>\w+)$"
)
_EVENT_KINDS = ("RunEvent", "JobEvent", "DatasetEvent")


def utf8_text(raw: bytes | str) -> str:
    """The event's text; :class:`OpenLineageDecodeError` if its bytes are not UTF-8."""
    # Strictly UTF-8, as the transports write it; json.loads alone would also take UTF-16.
    try:
        return raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise OpenLineageDecodeError(f"OpenLineage event is not UTF-8 text: {exc}") from None


def load_event(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The event as a JSON object; :class:`OpenLineageDecodeError` if it is not one."""
    if isinstance(raw, dict):
        return raw
    try:
        event = json.loads(utf8_text(raw))
    except ValueError as exc:
        raise OpenLineageDecodeError(f"OpenLineage event is not JSON: {exc}") from None
    except RecursionError:
        raise OpenLineageDecodeError("OpenLineage event is nested too deeply") from None
    if not isinstance(event, dict):
        raise OpenLineageDecodeError(
            f"OpenLineage event must be a JSON object, not {type(event).__name__}"
        )
    return event


def event_kind(event: dict[str, Any]) -> str:
    """RunEvent, JobEvent or DatasetEvent, from ``schemaURL`` (or from the shape without one)."""
    url = event.get("schemaURL")
    if url is None:
        if "run" in event or "dataset" not in event:
            return "RunEvent"
        return "DatasetEvent"
    if not isinstance(url, str):
        raise OpenLineageError(bad("schemaURL", "must be a string"))
    match = _SCHEMA_URL.match(url)
    if match is None:
        raise OpenLineageError(
            bad(
                "schemaURL",
                f"{url!r} is not an OpenLineage spec URL; expected e.g. "
                "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            )
        )
    if match["version"] is not None:
        major = int(match["version"].split("-")[0])
        if major not in SUPPORTED_MAJOR_VERSIONS:
            raise OpenLineageError(
                bad("schemaURL", f"spec version {match['version']} is not supported (1-x, 2-x)")
            )
    kind = match["kind"]
    if kind not in _EVENT_KINDS:
        raise OpenLineageError(
            bad("schemaURL", f"names {kind}; expected one of {', '.join(_EVENT_KINDS)}")
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
