"""What the fault scenarios produce and count: training runs and predictions with known ids
sent through the SDK, and the rows they must leave in the store, raw and FINAL."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from lineage_collector import DatasetRef, LineageClient
from lineage_processors.errors import QueryError
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess

PREDICTIONS_PER_MODEL = 150


def emit_training_run(client: LineageClient, i: int) -> str:
    """Training run number ``i``: 1 raw event and 3 edges; returns its event id."""
    return client.emit_training_run(
        f"m{i % 7}",
        f"1.{i}",
        [DatasetRef(f"d{i % 5}", f"v{i}", "train"), DatasetRef("shared", "v1", "test")],
        run_id=str(uuid.UUID(int=i)),
    )


def emit_training_runs(settings: WorkerSettings, first: int, count: int) -> None:
    """``count`` training runs, numbered from ``first``."""
    with LineageClient.from_settings(settings, namespace="eo") as client:
        for i in range(first, first + count):
            emit_training_run(client, i)


def log_predictions(settings: WorkerSettings, models: range) -> None:
    """PREDICTIONS_PER_MODEL predictions for each model version: InferenceBatch records."""
    with LineageClient.from_settings(settings, namespace="eo") as client:
        logger = client.inference_logger(batch_size=50)
        log_model_predictions(logger, models)
        logger.close()


def log_model_predictions(logger: Any, models: range) -> None:
    """Each model version's predictions, to an SDK ``InferenceLogger``."""
    for m in models:
        for i in range(PREDICTIONS_PER_MODEL):
            logger.log(f"p{m}-{i}", model="m", model_version=f"2.{m}", output="ok")


def counts(worker: WorkerProcess) -> dict[str, int]:
    """Raw and FINAL row counts, and distinct keys, of the tables the events fill."""
    sql = """
        SELECT
            (SELECT count() FROM events_raw),
            (SELECT count() FROM events_raw FINAL),
            (SELECT uniqExact(event_id) FROM events_raw),
            (SELECT count() FROM edges),
            (SELECT count() FROM edges FINAL),
            (SELECT count() FROM inferences),
            (SELECT count() FROM inferences FINAL),
            (SELECT uniqExact(inference_id) FROM inferences)
    """
    names = ("raw", "raw_final", "raw_ids", "edges", "edges_final", "inf", "inf_final", "inf_ids")
    try:
        rows = worker.query(sql).rows
    except QueryError as exc:  # a worker gone is a failure of the scenario: say why it went
        status = worker.proc.poll() if worker.proc is not None else None
        raise AssertionError(
            f"{exc}\nworker exit status {status}:\n{worker.log()[-5000:]}"
        ) from None
    return dict(zip(names, rows[0], strict=True))


def expected(events: int, models: int) -> dict[str, int]:
    inferences = models * PREDICTIONS_PER_MODEL
    return dict(
        raw=events,
        raw_final=events,
        raw_ids=events,
        edges=3 * events,
        edges_final=3 * events,
        inf=inferences,
        inf_final=inferences,
        inf_ids=inferences,
    )


def wait_for_counts(worker: WorkerProcess, want: dict[str, int], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    got = counts(worker)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.3)
        got = counts(worker)
    assert got == want, f"got {got}, want {want}\nworker log:\n{worker.log()}"


class Flow:
    """Events produced from a thread, rounds of 50 training runs and two model versions'
    predictions, until :meth:`stop`."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.events = 0
        self.models = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            emit_training_runs(self.settings, self.events, 50)
            self.events += 50
            log_predictions(self.settings, range(self.models, self.models + 2))
            self.models += 2
            time.sleep(0.2)

    def stop(self) -> tuple[int, int]:
        """Stop after the round in progress; returns the events and model versions sent."""
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive()
        return self.events, self.models


class Emitter:
    """One SDK client emitting from a thread, as a service would, until :meth:`stop`: rounds
    of training runs and two model versions' predictions. Counts what ``emit`` accepted."""

    def __init__(self, client: LineageClient, round_size: int = 50, pause: float = 0.05) -> None:
        self.client = client
        # One logger for the whole run: closing one waits for Kafka, as a service's would
        # only when it shuts down.
        self.logger = client.inference_logger(batch_size=50)
        self.round_size = round_size
        self.pause = pause
        self.events = 0
        self.models = 0
        self.failures: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for i in range(self.events, self.events + self.round_size):
                    emit_training_run(self.client, i)
                    self.events = i + 1
                log_model_predictions(self.logger, range(self.models, self.models + 2))
                self.models += 2
                time.sleep(self.pause)
        except BaseException as exc:  # reported by stop(): an emit that refused
            self.failures.append(exc)

    def stop(self) -> tuple[int, int]:
        """Stop after the round in progress; returns the events and model versions sent."""
        self._stop.set()
        self._thread.join(120)
        assert not self._thread.is_alive()
        assert self.failures == [], self.failures
        self.logger.close(120)
        return self.events, self.models
