"""Heavy reads beside ingest (``lineage bench ingest --with-reads``): what an analyst might
send to the worker's ``/sql`` while it ingests, and what one request's token check costs."""

from __future__ import annotations

import threading
import timeit

from lineage_collector.security import Secret
from lineage_processors.answers.runner import EndpointRunner
from lineage_processors.errors import QueryError
from lineage_processors.worker.auth import Access, Tokens, bearer

# What an analyst might run during ingest: a scan of every stored prediction grouped by
# person, and a computation that runs into the read time limit.
HEAVY_READS = (
    "SELECT model_node, uniqExact(subject), count() FROM inferences GROUP BY model_node",
    "SELECT count(), uniqExact(subject, inference_id) FROM inferences",
    "SELECT sum(cityHash64(number)) FROM numbers(2e10)",
)


class ReadLoop:
    """Heavy reads sent one after another to a worker's ``/sql`` while it ingests."""

    def __init__(self, url: str, token: Secret) -> None:
        self.runner = EndpointRunner(url, timeout=120, token=token)
        self.answered = 0
        self.stopped = 0  # stopped by a limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heavy-reads", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            try:
                self.runner.run(HEAVY_READS[i % len(HEAVY_READS)])
                self.answered += 1
            except QueryError:
                self.stopped += 1
            i += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def auth_check_cost() -> float:
    """Seconds one request's token check takes: the header parsed, the token compared."""
    tokens = Tokens(Secret("w" * 64), Secret("r" * 64))
    header = "Bearer " + "r" * 64
    calls = 200_000
    spent = timeit.timeit(lambda: tokens.allows(Access.READ, bearer(header)), number=calls)
    return spent / calls
