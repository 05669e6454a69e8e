"""Is the worker ready to work: do Kafka and ClickHouse answer it?

Liveness (``/healthz``) needs nothing here: a worker whose event loop answers HTTP is alive.
Readiness (``/readyz``) asks both components a trivial question with a deadline, so a
probe never hangs on a component that does not answer. A store can answer that question and
still refuse every write (a full disk, too many parts, a read-only replica): readiness also
looks at how long the worker's own writes have been failing (:class:`WriteFailures`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from lineage_processors.errors import StoreError
from lineage_processors.store.connect import Store

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


class WriteFailures:
    """How long the writes of one consumer to ClickHouse have been failing: its retry loop
    reports every failure and every success, and the current run of failures dates from
    the first failure after the last success."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.since: float | None = None  # None: the last write went through
        self.error = ""

    def failed(self, error: BaseException) -> None:
        if self.since is None:
            self.since = self.clock()
        self.error = str(error)

    def succeeded(self) -> None:
        self.since = None
        self.error = ""

    def seconds(self) -> float:
        """How long the current run of failures has lasted (0 when there is none)."""
        return 0.0 if self.since is None else self.clock() - self.since


WRITES = "clickhouse_writes"


def writes_check(failures: Mapping[str, WriteFailures], limit: float) -> Check:
    """Not ok while the writes from some topic have failed for over ``limit`` seconds with
    no success between; the detail names the topic, how long, and the last error."""
    failing = [(f.seconds(), topic, f.error) for topic, f in failures.items()]
    seconds, topic, error = max(failing, default=(0.0, "", ""))
    if seconds <= limit:
        return Check(WRITES, True)
    return Check(
        WRITES,
        False,
        f"writes of {topic} failing for {seconds:.0f}s, over "
        f"LINEAGE_READY_WRITE_FAILURE_SECONDS={limit:g}; retried, nothing committed: {error}",
    )


async def readiness(
    kafka: Callable[[], None],
    store: Callable[[], None],
    store_executor: Executor,
    also: Sequence[Check] = (),
) -> Readiness:
    """Both components asked at once, with ``also``'s checks (known without asking) after
    them. Store calls go through the store's own thread."""
    checks = await asyncio.gather(
        check("kafka", kafka, None), check("clickhouse", store, store_executor)
    )
    return Readiness((*checks, *also))
