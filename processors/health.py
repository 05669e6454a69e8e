"""Is the worker ready to work: do Kafka and ClickHouse answer it?

Liveness (``/healthz``) needs nothing here: a worker whose event loop answers HTTP is alive.
Readiness (``/readyz``) asks both components a trivial question with a deadline, so a
probe never hangs on a component that does not answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from processors.errors import StoreError
from processors.store.connect import Store

# Longest a readiness probe waits for each component. A store thread busy with one batch for
# longer than this is not ready to take more work either.
READY_TIMEOUT = 5.0


@dataclass(frozen=True)
class Check:
    """One component's answer: ``ok``, or what went wrong."""

    component: str
    ok: bool
    detail: str = "ok"


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not ready",
            **{c.component: c.detail for c in self.checks},
        }


class KafkaProbe:
    """Asks the cluster for the metadata of one topic: cheap, and proves we can talk to it."""

    def __init__(
        self, bootstrap: str, topic: str, client_config: Mapping[str, Any] | None = None
    ) -> None:
        self.topic = topic
        self.admin = AdminClient({"bootstrap.servers": bootstrap, **(client_config or {})})

    def __call__(self, timeout: float = READY_TIMEOUT - 1) -> None:
        try:
            meta = self.admin.list_topics(self.topic, timeout=timeout)
        except KafkaException as exc:
            raise ConnectionError(f"Kafka did not answer: {exc.args[0]}") from None
        if not meta.brokers:
            raise ConnectionError("Kafka answered with no brokers")


def store_probe(store: Store) -> Callable[[], None]:
    """A call that raises StoreError unless ClickHouse runs a trivial query."""

    def probe() -> None:
        store.query("SELECT 1")

    return probe


async def check(
    component: str,
    probe: Callable[[], None],
    executor: Executor | None,
    timeout: float = READY_TIMEOUT,
) -> Check:
    """Run ``probe`` on ``executor`` (None: the loop's default) within ``timeout``."""
    loop = asyncio.get_running_loop()
    call: Awaitable[None] = loop.run_in_executor(executor, probe)
    try:
        await asyncio.wait_for(call, timeout)
    except TimeoutError:
        return Check(component, False, f"no answer within {timeout:g}s")
    except (StoreError, ConnectionError, OSError) as exc:
        return Check(component, False, str(exc))
    return Check(component, True)


async def readiness(
    kafka: Callable[[], None], store: Callable[[], None], store_executor: Executor
) -> Readiness:
    """Both components asked at once. Store calls go through the store's own thread."""
    checks = await asyncio.gather(
        check("kafka", kafka, None), check("clickhouse", store, store_executor)
    )
    return Readiness(tuple(checks))
