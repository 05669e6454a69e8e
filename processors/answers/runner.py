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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Protocol
from uuid import UUID

from lineage_collector.security import NO_SECRET, Secret
from lineage_processors.errors import QueryError, StoreError
from lineage_processors.settings import WorkerSettings
from lineage_processors.store import open_configured, read_owner
from lineage_processors.store.connect import Store
from lineage_processors.store.owner import chdb_path
from lineage_processors.store.reads import ReadLimits, lock_session, read_on, session_opener
from lineage_processors.store.schema import migrate


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


def table(columns: list[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A read's answer with every value made plain (see :func:`plain`)."""
    return Table(columns, [[plain(v) for v in row] for row in rows])


class StoreRunner:
    """Queries on a store this process opened itself, on a read session of their own
    (never the session that migrates or writes), locked read-only with ``limits``."""

    def __init__(
        self,
        store: Store,
        limits: ReadLimits | None = None,
        open_session: Callable[[], Store] | None = None,
    ) -> None:
        self.store = store
        self.limits = limits or ReadLimits()
        self.session = lock_session((open_session or store.session)(), self.limits)

    def run(self, sql: str, parameters: dict[str, Any] | None = None) -> Table:
        return table(*read_on(self.session, sql, parameters, self.limits))

    def close(self) -> None:
        self.session.close()


class EndpointRunner:
    """Queries sent to a running worker's ``/sql`` endpoint."""

    def __init__(self, url: str, timeout: float = 60.0, token: Secret = NO_SECRET) -> None:
        self.url = url
        self.timeout = timeout
        self.token = token

    def run(self, sql: str, parameters: dict[str, Any] | None = None) -> Table:
        body = json.dumps({"sql": sql, "parameters": parameters or {}}).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token.reveal()}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
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


NO_STORE = "no lineage store here; start one with `lineage up`"


@contextlib.contextmanager
def query_runner(settings: WorkerSettings) -> Iterator[QueryRunner]:
    """A runner for the configured store: the worker's endpoint if it holds chDB (at the
    address it recorded there), else the store itself. An embedded store that does not exist
    is an error: a question never creates one."""
    url = settings.effective_clickhouse_url
    owner = read_owner(url)
    if owner is not None and owner.query_url:
        yield EndpointRunner(owner.query_url, token=settings.read_token)
        return
    data = chdb_path(url)
    if data is not None and not data.exists():
        raise StoreError(
            f"{NO_STORE} (there is none in {data}; LINEAGE_STATE_DIR or "
            "LINEAGE_CLICKHOUSE_URL names another)"
        )
    store = open_configured(settings, role="lineage query")
    try:
        if store.embedded:
            # A store made by an older version may lack the newest views.
            migrate(store)
        runner = StoreRunner(
            store, ReadLimits.from_settings(settings), session_opener(settings, store)
        )
        try:
            yield runner
        finally:
            runner.close()
    finally:
        store.close()
