"""Run read-only SQL against the store, wherever it is.

With a ClickHouse server we connect directly. With embedded chDB only one process may open
the data folder, so while a worker holds it we send the SQL to the worker's query endpoint;
otherwise we open the folder ourselves for the duration of the command.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Protocol
from uuid import UUID

from collector.config import Settings
from processors.errors import QueryError, StoreError
from processors.store import open_configured, read_owner
from processors.store.connect import Store
from processors.store.migrations import migrate

# Every query from people runs with readonly=1: ClickHouse itself refuses writes, DDL and
# changes of settings, so `lineage sql` cannot damage the store whatever it is given.
READONLY = {"readonly": 1}


@dataclass(frozen=True)
class Table:
    """A query answer: column names and rows of JSON-friendly values."""

    columns: list[str]
    rows: list[list[Any]]

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows}


class QueryRunner(Protocol):
    def run(self, sql: str, parameters: dict[str, Any] | None = None) -> Table: ...


def plain(value: Any) -> Any:
    """Turn a ClickHouse value into something JSON, CSV and tables all show the same way."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal, IPv4Address, IPv6Address)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def run_on_store(
    store: Store,
    sql: str,
    parameters: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Table:
    """Run one read-only query on an open store, with ``settings`` besides."""
    try:
        result = store.query(sql, parameters=parameters, settings={**(settings or {}), **READONLY})
    except StoreError as exc:
        raise QueryError(_explain(str(exc))) from None
    return Table(list(result.column_names), [[plain(v) for v in row] for row in result.result_rows])


def _explain(message: str) -> str:
    if "READONLY" in message or "readonly mode" in message:
        return "queries are read-only: writes, DDL and SET are refused. " + message
    return message


class StoreRunner:
    """Queries on a store this process opened itself."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def run(self, sql: str, parameters: dict[str, Any] | None = None) -> Table:
        return run_on_store(self.store, sql, parameters)


class EndpointRunner:
    """Queries sent to a running worker's ``/sql`` endpoint."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url
        self.timeout = timeout

    def run(self, sql: str, parameters: dict[str, Any] | None = None) -> Table:
        body = json.dumps({"sql": sql, "parameters": parameters or {}}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                reason = json.load(exc).get("error", exc.reason)
            except (ValueError, AttributeError):
                reason = exc.reason
            raise QueryError(str(reason)) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise QueryError(
                f"the worker holding the store did not answer at {self.url} ({exc}); "
                "check `lineage status`"
            ) from None
        return Table(answer["columns"], answer["rows"])


@contextlib.contextmanager
def query_runner(settings: Settings) -> Iterator[QueryRunner]:
    """A runner for the configured store: the worker's endpoint if it holds chDB, else direct."""
    url = settings.effective_clickhouse_url
    owner = read_owner(url)
    if owner is not None and owner.query_url:
        yield EndpointRunner(owner.query_url)
        return
    store = open_configured(settings, role="lineage query")
    try:
        if store.embedded:
            # A fresh embedded store has no tables yet; give it the schema so queries work.
            migrate(store)
        yield StoreRunner(store)
    finally:
        store.close()
