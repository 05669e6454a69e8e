"""The story of ``lineage demo``, generated: its lineage, its predictions and its incident.

A labelling vendor delivered a batch of labels for support tickets; 2,000 of them, all in
one category, were wrong. The batch went into a labelled dataset version, its training
split and an embedding dataset, and from there into three model versions, two of them
serving in production; a few thousand predictions about customers were made meanwhile.
:func:`emit_story` sends all of it, and the incident, through the SDK to Kafka.

Everything is generated from fixed seeds and ids, so the figures are the same on every run
and a second run restates the same facts instead of adding more.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lineage_collector import DatasetRef, LineageClient
from lineage_collector.events import (
    DatasetVersion,
    Deployment,
    SourceExtraction,
    Tag,
    TrainingRun,
    TransformationRun,
)
from lineage_processors.settings import WorkerSettings

# Used only when LINEAGE_SUBJECT_KEY is not set, so the demo runs anywhere; never a real key.
DEMO_SUBJECT_KEY = "lineage-demo-key-not-a-secret-0000000000"
INCIDENT = "INC-2041"
BATCH = "dataset:support/vendor-labels@batch-17"
FIXED = "dataset:support/vendor-labels@batch-17-fixed"
MISLABELLED = 2000
CATEGORY = "billing"
CATEGORIES = ("billing", "refund", "account", "technical")
WINDOW = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 23, tzinfo=UTC))
AFFECTED_MODELS = (
    "model:intent-classifier@3.5.0",
    "model:intent-classifier@3.5.1",
    "model:ticket-router@1.2.0",
)
CUSTOMERS = 1500
DAY = timedelta(days=1)


def at(day: int, hour: int = 0) -> datetime:
    """A time in the story: day 1 is 1 February 2026."""
    return datetime(2026, 2, 1, tzinfo=UTC) + (day - 1) * DAY + timedelta(hours=hour)


def run_id(name: str) -> str:
    # Fixed run ids: running the demo again restates the same runs instead of adding more.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lineage-demo:{name}"))


def lineage_events() -> list[tuple[Any, datetime]]:
    """The graph of the story, with the time each event happened."""
    raw = DatasetRef("support/tickets-raw", "2026-02")
    batch = DatasetRef("support/vendor-labels", "batch-17")
    v8 = DatasetRef("support/tickets-labelled", "v8")
    labelled = DatasetRef("support/tickets-labelled", "v9")
    train, holdout = (
        DatasetRef("support/tickets-labelled", "v9-train", "train"),
        DatasetRef("support/tickets-labelled", "v9-holdout", "validation"),
    )
    embeddings = DatasetRef("support/ticket-embeddings", "v9", "train")
    return [
        (
            SourceExtraction("crm/zendesk-export", "zendesk", "zendesk://tickets", 48_000, raw),
            at(20),
        ),
        (
            SourceExtraction(
                "vendor/acme-labelling", "sftp", "sftp://acme/batch-17.csv", 12_000, batch
            ),
            at(24),
        ),
        (
            TrainingRun(
                "intent-classifier",
                "3.4.2",
                [DatasetRef(v8.name, v8.version, "train")],
                run_id=run_id("train-3.4.2"),
                hyperparameters={"lr": "3e-5", "epochs": "4"},
                code_version="git:1f3c2a9",
                metrics={"f1": 0.912},
            ),
            at(10),
        ),
        (
            TransformationRun(
                "support/apply-labels",
                kind="LABEL",
                inputs=[raw, batch],
                outputs=[labelled],
                run_id=run_id("apply-labels"),
                parameters={"category": CATEGORY, "label_source": "vendor"},
                code_version="git:5be0c41",
                annotator="acme-labelling",
                guideline_version="g-2026.1",
            ),
            at(25),
        ),
        (
            DatasetVersion(
                "support/tickets-labelled",
                "v9",
                "sha256:9c41e0",
                60_000,
                splits={"train": 50_000, "holdout": 10_000},
            ),
            at(25),
        ),
        (
            TransformationRun(
                "support/split",
                kind="FILTER",
                inputs=[labelled],
                outputs=[
                    DatasetRef(train.name, train.version),
                    DatasetRef(holdout.name, holdout.version),
                ],
                run_id=run_id("split"),
                parameters={"holdout": "0.166", "seed": "7"},
                code_version="git:5be0c41",
            ),
            at(25, 2),
        ),
        (
            TransformationRun(
                "support/embed-tickets",
                kind="EMBED",
                inputs=[DatasetRef(train.name, train.version)],
                outputs=[DatasetRef(embeddings.name, embeddings.version)],
                run_id=run_id("embed"),
                parameters={"model": "e5-base", "dim": "768"},
                code_version="git:77aa310",
            ),
            at(26),
        ),
        (
            TrainingRun(
                "intent-classifier",
                "3.5.0",
                [train, holdout],
                run_id=run_id("train-3.5.0"),
                hyperparameters={"lr": "2e-5", "epochs": "5"},
                code_version="git:8d41e07",
                metrics={"f1": 0.927},
            ),
            at(27),
        ),
        (
            TrainingRun(
                "intent-classifier",
                "3.5.1",
                [train, DatasetRef("support/chat-transcripts", "v4", "train"), holdout],
                run_id=run_id("train-3.5.1"),
                hyperparameters={"lr": "1e-5", "epochs": "6"},
                code_version="git:a91c3d2",
                metrics={"f1": 0.931},
            ),
            at(40),
        ),
        (
            TrainingRun(
                "ticket-router",
                "1.2.0",
                [embeddings],
                run_id=run_id("train-router-1.2.0"),
                hyperparameters={"trees": "400"},
                code_version="git:0c9d1e2",
                metrics={"accuracy": 0.884},
            ),
            at(30),
        ),
        (
            Deployment("prod/intent-api", "prod", "intent-classifier", "3.4.2", at(10), WINDOW[0]),
            at(10),
        ),
        (
            Deployment("prod/intent-api", "prod", "intent-classifier", "3.5.0", WINDOW[0], at(44)),
            WINDOW[0],
        ),
        (Deployment("prod/intent-api", "prod", "intent-classifier", "3.5.1", at(44)), at(44)),
        (Deployment("prod/ticket-router", "prod", "ticket-router", "1.2.0", at(33)), at(33)),
    ]


def incident() -> Tag:
    return Tag(
        BATCH,
        "corrupted-labels",
        incident_id=INCIDENT,
        record_count=MISLABELLED,
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        reason=f"the vendor labelled {MISLABELLED:,} {CATEGORY} tickets as refund",
    )


@dataclass(frozen=True)
class Prediction:
    inference_id: str
    model: str
    version: str
    deployment: str
    output: str
    customer: str
    when: datetime

    @property
    def model_node(self) -> str:
        return f"model:{self.model}@{self.version}"


def serving(deployment: str, when: datetime) -> tuple[str, str]:
    """The model version a deployment served at ``when`` in the story."""
    if deployment == "prod/ticket-router":
        return "ticket-router", "1.2.0"
    if when < WINDOW[0]:
        return "intent-classifier", "3.4.2"
    return ("intent-classifier", "3.5.0") if when < at(44) else ("intent-classifier", "3.5.1")


def predictions() -> list[Prediction]:
    """Predictions from 20 February to 31 March: 60 a day at the intent API, and 40 a day at
    the router once it serves, each about one of the customers."""
    rng = random.Random(2041)
    out = []
    day = at(20)
    n = 0
    while day < at(60):
        for deployment, per_day in (("prod/intent-api", 60), ("prod/ticket-router", 40)):
            if deployment == "prod/ticket-router" and day < at(33):
                continue
            for _ in range(per_day):
                when = day + timedelta(seconds=rng.randrange(86400))
                model, version = serving(deployment, when)
                n += 1
                out.append(
                    Prediction(
                        f"demo-{n:06d}",
                        model,
                        version,
                        deployment,
                        rng.choice(CATEGORIES),
                        f"customer-{rng.randrange(CUSTOMERS):05d}",
                        when,
                    )
                )
        day += DAY
    return out


def subject_key(settings: WorkerSettings) -> str:
    return settings.subject_key.reveal() or DEMO_SUBJECT_KEY


def emit_story(settings: WorkerSettings) -> int:
    """Emit the story through the SDK (``settings`` with a subject key); returns how many
    predictions it logged."""
    preds = predictions()
    with LineageClient.from_settings(settings, namespace="demo") as client:
        for event, when in lineage_events():
            client.emit(event, event_time=when)
        customers = sorted({p.customer for p in preds})
        client.emit_subject_links("dataset:support/tickets-raw@2026-02", customers)
        with client.inference_logger() as log:
            for p in preds:
                log.log(
                    p.inference_id,
                    model=p.model,
                    model_version=p.version,
                    deployment=p.deployment,
                    output=p.output,
                    subject_id=p.customer,
                    event_time=p.when,
                )
        client.emit(incident(), event_time=WINDOW[1] + DAY)
    return len(preds)
