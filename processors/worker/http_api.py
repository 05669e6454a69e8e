"""The worker's HTTP endpoints for people and producers: ``/sql`` and ``POST /api/v1/lineage``.

Every request first passes :func:`guard`: the token its path needs
(:mod:`lineage_processors.worker.auth`), and one log line, not a traceback, for a client that goes
away mid-request. Bodies are read against a size limit and a deadline
(``LINEAGE_HTTP_BODY_SECONDS``), so a client that sends slowly cannot hold a handler. Reads run on
the :class:`~lineage_processors.store.reads.ReadPool`, never on the writer's thread or session, and
are stopped when their client goes away. Ingest takes at most ``LINEAGE_INGEST_MAX_IN_FLIGHT``
requests at once and answers 503 with ``Retry-After`` past that, so a flood queues at the clients
rather than in the worker's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiohttp
import faust
from aiohttp import web as aiohttp_web
from faust.web import Request, Response, View

from lineage_processors.answers.runner import Table, table
from lineage_processors.errors import QueryError
from lineage_processors.ingest.openlineage.event import load_event, message_key
from lineage_processors.ingest.openlineage.fields import OpenLineageError
from lineage_processors.ingest.openlineage.mapping import map_openlineage
from lineage_processors.ingest.reference.mapping import Origin
from lineage_processors.ops.metrics import WorkerMetrics
from lineage_processors.settings import WorkerSettings
from lineage_processors.store.reads import ReadPool
from lineage_processors.worker.auth import Access, Tokens, access_for, bearer

log = logging.getLogger(__name__)

# How often a waiting read looks whether its client is still there.
_CLIENT_POLL_SECONDS = 0.2
# Largest /sql request body: a query and its parameters.
SQL_MAX_BYTES = 1 << 20

Handler = Callable[[aiohttp_web.Request], Awaitable[aiohttp_web.StreamResponse]]


class BodyTooLarge(Exception):
    """A request body proved longer than its limit."""


class BodyTooSlow(Exception):
    """A request body did not arrive within its deadline."""


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """The request body; BodyTooLarge as soon as it proves longer than ``limit`` bytes,
    BodyTooSlow if it has not all arrived ``seconds`` after the request started.

    aiohttp has already undone any ``Content-Encoding: gzip``, so the limit holds for the
    JSON itself and a small compressed body cannot unpack into a huge one here.
    """
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    stream = cast(aiohttp_web.Request, request).content
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BodyTooSlow
        try:
            chunk = await asyncio.wait_for(stream.read(1 << 16), left)
        except TimeoutError:
            raise BodyTooSlow from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)


def _client_gone(request: Request) -> bool:
    transport = cast(aiohttp_web.Request, request).transport
    return transport is None or transport.is_closing()


def guard(tokens: Tokens, metrics: WorkerMetrics) -> Any:
    """aiohttp middleware: the token each path needs, and quiet about clients that left."""

    @aiohttp_web.middleware
    async def middleware(
        request: aiohttp_web.Request, handler: Handler
    ) -> aiohttp_web.StreamResponse:
        access = access_for(request.method, request.path)
        if not tokens.allows(access, bearer(request.headers.get("Authorization"))):
            metrics.http_refused.labels(access.value).inc()
            setting = "LINEAGE_WRITE_TOKEN" if access is Access.WRITE else "LINEAGE_READ_TOKEN"
            return aiohttp_web.json_response(
                {
                    "error": f"missing or wrong bearer token: {request.path} needs the "
                    f"{access.value} token (the worker's {setting}), sent as "
                    "`Authorization: Bearer <token>`"
                },
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="lineage"'},
            )
        try:
            return await handler(request)
        except (ConnectionError, aiohttp.ClientError) as exc:
            log.info(
                "%s %s: the client went away (%s)", request.method, request.path, type(exc).__name__
            )
            raise aiohttp_web.HTTPBadRequest() from None

    return middleware


def install(
    app: faust.App,
    settings: WorkerSettings,
    pool: ReadPool,
    metrics: WorkerMetrics,
) -> None:
    """Serve ``/sql`` and ``POST /api/v1/lineage`` from ``app``."""
    body_seconds = settings.http_body_seconds
    in_flight = 0

    def read_table(sql: str, parameters: dict[str, Any], tag: str) -> Table:
        # Made plain on the read's thread: a large answer costs the event loop nothing.
        return table(*pool.read(sql, parameters, tag))

    class SqlView(View):
        """POST {"sql": ..., "parameters": {...}} -> {"columns": [...], "rows": [...]}."""

        async def post(self, request: Request) -> Response:
            try:
                body = await read_body(request, SQL_MAX_BYTES, body_seconds)
            except BodyTooLarge:
                return self.error(413, f"the query is over {SQL_MAX_BYTES} bytes")
            except BodyTooSlow:
                return _too_slow(self, body_seconds)
            try:
                parsed = json.loads(body)
                sql, parameters = parsed["sql"], parsed.get("parameters") or {}
                if not isinstance(sql, str) or not isinstance(parameters, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError, AttributeError):
                return self.error(400, 'expected JSON {"sql": "...", "parameters": {...}}')
            loop = asyncio.get_running_loop()
            tag = uuid.uuid4().hex
            future = loop.run_in_executor(pool.executor, read_table, sql, parameters, tag)
            try:
                while True:
                    done, _ = await asyncio.wait({future}, timeout=_CLIENT_POLL_SECONDS)
                    if done:
                        break
                    if _client_gone(request):
                        await loop.run_in_executor(pool.kill_executor, pool.cancel, tag)
                        log.info("a read was stopped: its client went away")
                        with contextlib.suppress(QueryError):
                            await future
                        # Nobody reads this answer; the status is for access logs only.
                        return self.error(400, "the client went away")
                answer = future.result()
            except asyncio.CancelledError:
                # Not awaited: the handler is going; the kill must not hold the event loop.
                loop.run_in_executor(pool.kill_executor, pool.cancel, tag)
                raise
            except QueryError as exc:
                return self.error(400, str(exc))
            return self.json(answer.to_json())

    class LineageView(View):
        """OpenLineage's HTTP API: ``POST /api/v1/lineage`` with one event as JSON -> 201.

        The event is validated exactly as the worker will map it, then written to the
        OpenLineage topic; 201 means Kafka has it. 400 says what is wrong with the event,
        408 that its body came too slowly, 413 that it is over ``LINEAGE_INGEST_MAX_BYTES``,
        503 that Kafka refused it or too many requests are in flight.
        """

        async def post(self, request: Request) -> Response:
            nonlocal in_flight
            if in_flight >= settings.ingest_max_in_flight:
                metrics.http_refused.labels("busy").inc()
                return self.error(
                    503,
                    f"{in_flight} events are being handed to Kafka already, the most the "
                    "worker takes at once (LINEAGE_INGEST_MAX_IN_FLIGHT): try again shortly",
                    headers={"Retry-After": "1"},
                )
            in_flight += 1
            try:
                return await self._ingest(request)
            finally:
                in_flight -= 1

        async def _ingest(self, request: Request) -> Response:
            limit = settings.ingest_max_bytes
            try:
                body = await read_body(request, limit, body_seconds)
            except BodyTooLarge:
                return self.error(
                    413, f"request body is over {limit} bytes, the limit (LINEAGE_INGEST_MAX_BYTES)"
                )
            except BodyTooSlow:
                return _too_slow(self, body_seconds)
            try:
                event = load_event(body)
                [raw] = map_openlineage(event, Origin("http", 0, 0)).events_raw
            except OpenLineageError as exc:
                return self.error(400, str(exc))
            # The key openlineage-python's Kafka transport would give the event (its job's, or
            # its root job's, namespace/name): events posted here and events written to Kafka
            # directly about one job, or one parent run and its children, share a partition
            # and so stay in order.
            key = message_key(event).encode()
            try:
                await app.producer.send_and_wait(
                    settings.topic_openlineage, key, body, None, None, None
                )
            except Exception as exc:
                log.warning("OpenLineage event not handed to Kafka: %s", exc)
                return self.error(503, f"Kafka did not take the event, try again: {exc}")
            return self.json({"event_id": raw[0]}, status=201)

    app.page("/sql")(SqlView)
    app.page("/api/v1/lineage")(LineageView)


def _too_slow(view: View, seconds: float) -> Response:
    return view.error(
        408,
        f"the request body did not arrive within {seconds:g} s (LINEAGE_HTTP_BODY_SECONDS)",
        headers={"Connection": "close"},
    )
