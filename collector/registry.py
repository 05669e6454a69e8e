"""A small client for Confluent-compatible schema registries (the REST API subset we use).

Registering gives the id the Confluent framing carries (``00`` + 4-byte big-endian id); looking
an id up gives the writer's schema. Both are cached for the life of the client: a registered
schema never changes under its id.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from lineage_collector.errors import RegistryError

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class UnknownSchemaIdError(RegistryError):
    """The registry does not know a schema id (error 40403): the record is a poison record."""


class SchemaRegistryClient:
    """Register schemas and fetch them by id, with caching. Thread-safe."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        self._auth: str | None = None
        if parts.username is not None:
            import base64

            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            netloc = parts.hostname or ""
            if parts.port:
                netloc += f":{parts.port}"
            parts = parts._replace(netloc=netloc)
        self.base = urllib.parse.urlunsplit(parts)
        self.shown = _redact(url)
        self.timeout = timeout
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SchemaRegistryClient({self.shown!r})"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
        )
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                detail = json.load(exc)
            except ValueError:
                detail = {}
            code = detail.get("error_code", exc.code)
            message = detail.get("message", exc.reason)
            if code == 40403:
                raise UnknownSchemaIdError(f"schema registry {self.shown}: {message}") from None
            raise RegistryError(
                f"schema registry {self.shown} refused {method} {path}: {code} {message}"
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise RegistryError(
                f"schema registry {self.shown} is unreachable ({exc}); check "
                "LINEAGE_SCHEMA_REGISTRY_URL"
            ) from None

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its id."""
        text = json.dumps(schema, sort_keys=True)
        with self._lock:
            cached = self._ids.get((subject, text))
        if cached is not None:
            return cached
        quoted = urllib.parse.quote(subject, safe="")
        answer = self._call("POST", f"/subjects/{quoted}/versions", {"schema": text})
        schema_id = int(answer["id"])
        with self._lock:
            self._ids[(subject, text)] = schema_id
            self._schemas.setdefault(schema_id, schema)
        return schema_id

    def schema(self, schema_id: int) -> dict[str, Any]:
        """The schema registered under ``schema_id``."""
        with self._lock:
            cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        answer = self._call("GET", f"/schemas/ids/{schema_id}")
        try:
            parsed: dict[str, Any] = json.loads(answer["schema"])
        except (KeyError, TypeError, ValueError):
            raise RegistryError(f"schema id {schema_id}: the registry answered no schema") from None
        with self._lock:
            self._schemas[schema_id] = parsed
        return parsed
