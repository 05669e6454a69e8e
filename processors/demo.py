"""``lineage demo``: emit a small, realistic pipeline and answer a question about it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from collector import DatasetRef, LineageClient, TrainingRun
from collector.config import Settings
from processors.errors import NotFoundError
from processors.queries import upstream
from processors.query_runner import Table, query_runner

DEMO_MODEL = "intent-classifier"
DEMO_VERSION = "3.4.2"


def _run_id(version: str) -> str:
    # Fixed run ids: running the demo again restates the same runs instead of adding more.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lineage-demo:{DEMO_MODEL}@{version}"))


def demo_events() -> list[TrainingRun]:
    """Two releases of an intent classifier, the second adding a dataset version."""
    return [
        TrainingRun(
            DEMO_MODEL,
            "3.4.1",
            [
                DatasetRef("support/tickets-labelled", "v7", "train"),
                DatasetRef("support/tickets-labelled", "v7-holdout", "validation"),
            ],
            hyperparameters={"learning_rate": "3e-5", "epochs": "4"},
            code_version="git:1f3c2a9",
            metrics={"f1": 0.912},
            run_id=_run_id("3.4.1"),
        ),
        TrainingRun(
            DEMO_MODEL,
            DEMO_VERSION,
            [
                DatasetRef("support/tickets-labelled", "v8", "train"),
                DatasetRef("support/chat-transcripts", "v3", "train"),
                DatasetRef("support/tickets-labelled", "v8-holdout", "validation"),
            ],
            hyperparameters={"learning_rate": "2e-5", "epochs": "5"},
            code_version="git:8d41e07",
            metrics={"f1": 0.927},
            run_id=_run_id(DEMO_VERSION),
        ),
    ]


def run_demo(
    settings: Settings, say: Callable[[str], None] = print, timeout: float = 60.0
) -> Table:
    """Emit the demo pipeline, wait until the worker stored it, and return the answer."""
    events = demo_events()
    with LineageClient.from_settings(settings, namespace="demo") as client:
        for event in events:
            client.emit(event)
    say(f"emitted {len(events)} training-run events to {settings.topic_events}")
    target = f"model:{DEMO_MODEL}@{DEMO_VERSION}"
    say(f"waiting for the worker to store them, then asking: lineage upstream {target}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with query_runner(settings) as runner:
                answer = upstream(runner, target)
            if any(row[2] == "dataset" for row in answer.rows):
                return answer
        except NotFoundError:
            pass
        if time.monotonic() > deadline:
            raise NotFoundError(
                f"{target} did not appear in the store within {timeout:.0f}s; is the worker "
                "running (`lineage status`)? Its log is under the state folder's worker/."
            )
        time.sleep(0.5)
