"""People's reads cannot hurt the writer: a refused statement changes nothing but its own
answer, a heavy read is stopped by its limits while ingest flows, and a read whose client
went away stops running."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_collector import LineageClient
from lineage_processors.errors import QueryError
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, isolated_settings, run_cli

REFUSED = [
    "DROP TABLE edges",
    "SET max_memory_usage = 0",
    "KILL QUERY WHERE 1",
    "SYSTEM STOP MERGES",
    "OPTIMIZE TABLE nodes FINAL",
]
HEAVY_TIME = "SELECT count() FROM numbers(5e10)"
HEAVY_MEMORY = "SELECT length(groupArray(number)) FROM numbers(2e8)"


def ready(worker: WorkerProcess) -> dict[str, object]:
    port = worker.settings.worker_port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            return dict(json.load(r), code=r.status)
    except urllib.error.HTTPError as exc:
        return dict(json.load(exc), code=exc.code)


def emit_versions(settings: WorkerSettings, first: int, count: int) -> None:
    with LineageClient.from_settings(settings, namespace="reads") as client:
        for i in range(first, first + count):
            client.emit_dataset_version("d", f"v{i}", content_hash=f"h{i}", row_count=i)
        assert client.flush(60) == 0


def stored_versions(worker: WorkerProcess) -> int:
    return int(worker.query("SELECT count() FROM events_raw").rows[0][0])


def wait_stored(worker: WorkerProcess, expected: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (got := stored_versions(worker)) < expected:
        assert time.monotonic() < deadline, f"{got} of {expected} stored:\n{worker.log()[-3000:]}"
        time.sleep(0.2)
    assert got == expected


def test_a_refused_statement_changes_nothing_but_its_own_answer(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    """Pass: DROP, SET, KILL, SYSTEM and OPTIMIZE, each sent once through `lineage sql` and
    once to /sql, are refused with the read-only message; after each refusal, 1,000 events
    are all stored and /readyz says ready; every table is still there."""
    emitted = 0

    def then_all_stored() -> None:
        nonlocal emitted
        emit_versions(settings, emitted, 1000)
        emitted += 1000
        wait_stored(worker, emitted)
        assert ready(worker)["code"] == 200, ready(worker)

    tables = worker.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name"
    )
    for sql in REFUSED:
        done = run_cli(settings, "sql", sql)
        assert done.returncode == 2, done.stderr
        assert "read-only" in done.stderr and "Traceback" not in done.stderr, done.stderr
        then_all_stored()
        with pytest.raises(QueryError, match="read-only"):
            worker.query(sql)
        then_all_stored()
    assert (
        worker.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name"
        )
        == tables
    )


@pytest.fixture(scope="module")
def limited(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> Iterator[WorkerProcess]:
    """A worker whose reads may run 8 s and use 256 MiB, for the module's tests."""
    settings = isolated_settings(tmp_path_factory.mktemp("limited"), kafka_bootstrap)
    proc = WorkerProcess(settings.replace(read_max_seconds=8.0, read_max_memory=256 << 20))
    proc.start()
    yield proc
    proc.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Flow:
    """Predictions logged without pause through the SDK while a test runs."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.client = LineageClient.from_settings(settings, namespace="flow")
        self.logger = self.client.inference_logger(batch_size=500)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        i = 0
        while not self.stop.is_set():
            for _ in range(500):
                self.logger.log(f"p{i}", model="m", model_version="1", output="ok")
                i += 1
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.logger.close()
        self.client.close()


def predictions(worker: WorkerProcess) -> int:
    return int(worker.query("SELECT count() FROM inferences").rows[0][0])


def test_a_heavy_read_is_stopped_by_its_limits_while_ingest_flows(
    limited: WorkerProcess,
) -> None:
    """Pass: during a flowing ingest, a scan past the time limit and an aggregate past the
    memory limit are each stopped with a message naming the limit and what to do; rows
    are stored while the scan runs; the worker's memory stays under its baseline plus the
    read's memory limit; a result too large is refused asking for LIMIT."""
    worker = limited
    assert worker.proc is not None
    flow = Flow(worker.settings)
    try:
        deadline = time.monotonic() + 60
        while predictions(worker) == 0:
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.2)
        before = predictions(worker)
        with pytest.raises(QueryError) as timed_out:
            worker.query(HEAVY_TIME)
        assert "longer than 8 s" in str(timed_out.value), timed_out.value
        assert "LINEAGE_READ_MAX_SECONDS" in str(timed_out.value)
        assert predictions(worker) > before, "nothing was stored while the read ran"

        baseline = rss_mb(worker.proc.pid)
        peak = baseline
        sampling = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not sampling.is_set():
                peak = max(peak, rss_mb(worker.proc.pid))  # type: ignore[union-attr]
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with pytest.raises(QueryError) as too_big:
                worker.query(HEAVY_MEMORY)
        finally:
            sampling.set()
            sampler.join()
        assert "LINEAGE_READ_MAX_MEMORY" in str(too_big.value), too_big.value
        # The engine allocates in chunks past what it tracks; ingest runs on meanwhile.
        assert peak < baseline + 256 + 128, (baseline, peak)

        with pytest.raises(QueryError) as too_many:
            worker.query("SELECT number FROM numbers(1000000)")
        assert "result too large: add LIMIT" in str(too_many.value)
        assert worker.query("SELECT number FROM numbers(1000000) LIMIT 3").rows == [[0], [1], [2]]
    finally:
        flow.close()
    assert worker.proc.poll() is None


def running(worker: WorkerProcess, marker: str) -> int:
    return int(
        worker.query(
            "SELECT count() FROM system.processes WHERE position(query, {m:String}) > 0 "
            "AND position(query, 'system.processes') = 0",
            {"m": marker},
        ).rows[0][0]
    )


def test_a_read_whose_client_goes_away_stops_running(limited: WorkerProcess) -> None:
    """Pass: a long scan is cut off by its client (the connection closed while it runs);
    it leaves system.processes well before its time limit would have ended it, and the
    worker logs one line about it, no traceback."""
    worker = limited
    marker = "numbers(4e10)"
    conn = http.client.HTTPConnection("127.0.0.1", worker.settings.worker_port, timeout=30)
    conn.request("POST", "/sql", json.dumps({"sql": f"SELECT count() FROM {marker}"}))
    started = time.monotonic()
    deadline = started + 6
    while running(worker, marker) == 0:
        assert time.monotonic() < deadline, "the read never showed in system.processes"
        time.sleep(0.05)
    conn.close()
    while running(worker, marker):
        time.sleep(0.05)
    assert time.monotonic() - started < 8, "the read ran on until its time limit"
    deadline = time.monotonic() + 10
    while "its client went away" not in worker.log():
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.1)
    assert "Traceback" not in worker.log()
