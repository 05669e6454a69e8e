"""A small lineage with known answers, emitted through the SDK to real Kafka and stored by a
real worker once for the module that asks for it.

::

    source:q/crm --extracted--> q/raw@v1 --> clean (drop_nulls=yes, git:c1) --> q/clean@v1
      q/clean@v1 (train) + q/holdout@v1 (validation) --> train 1.0 --> model:q-model@1.0
      model:q-model@1.0 --deployed--> deployment:prod/q
    q/raw@v1 --> clean again (drop_nulls=no, git:c2) --> q/clean@v2
      q/clean@v2 (train) + q/holdout@v1 (test) --> train 2.0 --> model:q-model@2.0
    q/clean@v1 --> anonymise (masking) --> q/anon@v1 --> train --> model:q-anon@1.0
    late, at hour 5: q/legacy@v7 --> load --> q/raw@v1

Predictions q-p1 .. q-p5 (people alice and bob) and incident INC-Q on the source, window
hours 8 to 20.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lineage_collector import DatasetRef, LineageClient
from lineage_collector.events import (
    Deployment,
    SourceExtraction,
    Tag,
    TrainingRun,
    TransformationRun,
)
from lineage_collector.security import Secret
from lineage_processors.answers.runner import EndpointRunner
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, isolated_settings

BASE = datetime(2026, 4, 1, tzinfo=UTC)
KEY = "answers-test-subject-key-0123456789abcdef"


def at(hour: int) -> datetime:
    return BASE + timedelta(hours=hour)


def iso(hour: int) -> str:
    """How answers show ``at(hour)``."""
    return at(hour).replace(tzinfo=None).isoformat()


def run(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"test-answers/{name}"))


R = {n: f"run:{run(n)}" for n in ("clean", "clean2", "t1", "t2", "anon", "anon-train", "load")}
MODEL1, MODEL2, ANON = "model:q-model@1.0", "model:q-model@2.0", "model:q-anon@1.0"
PREDICTIONS = [
    # id, model, version, deployment, hour, person, output
    ("q-p1", "q-model", "1.0", "prod/q", 8, "alice", "yes"),
    ("q-p2", "q-model", "2.0", None, 9, "alice", "no"),
    ("q-p3", "q-model", "1.0", None, 7, "bob", "yes"),
    ("q-p4", "q-anon", "1.0", None, 10, "bob", "yes"),
    ("q-p5", "q-model", "2.0", None, 21, "bob", "no"),
]


def graph_events() -> list[tuple[Any, datetime]]:
    raw, clean1, clean2 = (
        DatasetRef("q/raw", "v1"),
        DatasetRef("q/clean", "v1"),
        DatasetRef("q/clean", "v2"),
    )
    anon = DatasetRef("q/anon", "v1")
    return [
        (SourceExtraction("q/crm", "salesforce", "sf://a", 100, raw), at(1)),
        (
            TransformationRun(
                "q/clean",
                kind="CLEAN",
                inputs=[raw],
                outputs=[clean1],
                run_id=run("clean"),
                parameters={"drop_nulls": "yes"},
                code_version="git:c1",
            ),
            at(2),
        ),
        (
            TrainingRun(
                "q-model",
                "1.0",
                [DatasetRef("q/clean", "v1", "train"), DatasetRef("q/holdout", "v1", "validation")],
                run_id=run("t1"),
                hyperparameters={"lr": "0.1"},
                code_version="git:t1",
                metrics={"f1": 0.8},
            ),
            at(3),
        ),
        (Deployment("prod/q", "prod", "q-model", "1.0", at(4)), at(4)),
        (
            TransformationRun(
                "q/clean",
                kind="CLEAN",
                inputs=[raw],
                outputs=[clean2],
                run_id=run("clean2"),
                parameters={"drop_nulls": "no"},
                code_version="git:c2",
            ),
            at(6),
        ),
        (
            TrainingRun(
                "q-model",
                "2.0",
                [DatasetRef("q/clean", "v2", "train"), DatasetRef("q/holdout", "v1", "test")],
                run_id=run("t2"),
                hyperparameters={"lr": "0.05"},
                code_version="git:t2",
                metrics={"f1": 0.85},
            ),
            at(7),
        ),
        (
            TransformationRun(
                "q/anonymise", inputs=[clean1], outputs=[anon], run_id=run("anon"), masking=True
            ),
            at(6),
        ),
        (
            TrainingRun(
                "q-anon", "1.0", [DatasetRef("q/anon", "v1", "train")], run_id=run("anon-train")
            ),
            at(7),
        ),
    ]


def late_event() -> tuple[Any, datetime]:
    return (
        TransformationRun(
            "q/load",
            inputs=[DatasetRef("q/legacy", "v7")],
            outputs=[DatasetRef("q/raw", "v1")],
            run_id=run("load"),
        ),
        at(5),
    )


@dataclass
class Stored:
    settings: WorkerSettings
    worker: WorkerProcess
    runner: EndpointRunner


def wait_until(worker: WorkerProcess, sql: str, expected: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    rows = worker.query(sql).rows
    while rows != expected and time.monotonic() < deadline:
        time.sleep(0.3)
        rows = worker.query(sql).rows
    assert rows == expected, f"got {rows}\nworker log:\n{worker.log()}"


# One worker and one story for every test module of the package: the answers only read it.
@pytest.fixture(scope="package")
def stored(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> Iterator[Stored]:
    settings = isolated_settings(
        tmp_path_factory.mktemp("answers") / "state", kafka_bootstrap
    ).replace(subject_key=Secret(KEY))
    worker = WorkerProcess(settings).start()
    try:
        with LineageClient.from_settings(settings, namespace="test") as client:
            for event, when in graph_events():
                client.emit(event, event_time=when)
            client.emit_subject_links("dataset:q/raw@v1", ["alice", "bob"])
            for pid, model, version, deployment, hour, person, output in PREDICTIONS:
                client.emit_inference(
                    pid,
                    model=model,
                    model_version=version,
                    deployment=deployment,
                    subject_id=person,
                    output=output,
                    event_time=at(hour),
                )
        # The late edge arrives once the rest is stored and its closures are computed.
        wait_until(
            worker,
            f"SELECT count() FROM model_upstream WHERE model_node = '{MODEL2}' "
            "AND ancestor = 'source:q/crm'",
            [[1]],
        )
        with LineageClient.from_settings(settings, namespace="test") as client:
            event, when = late_event()
            client.emit(event, event_time=when)
            client.emit(
                Tag(
                    "source:q/crm",
                    "pii",
                    incident_id="INC-Q",
                    record_count=40,
                    window_start=at(8),
                    window_end=at(20),
                    reason="emails in clear",
                ),
                event_time=at(22),
            )
        wait_until(
            worker,
            f"SELECT count() FROM model_upstream WHERE model_node = '{MODEL1}' "
            "AND ancestor = 'dataset:q/legacy@v7'",
            [[1]],
        )
        wait_until(
            worker, "SELECT count() FROM active_tag_impacts WHERE incident_id = 'INC-Q'", [[12]]
        )
        wait_until(worker, "SELECT countIf(resolved), count() FROM inferences", [[5, 5]])
        yield Stored(settings, worker, EndpointRunner(worker.url))
    finally:
        worker.stop()
