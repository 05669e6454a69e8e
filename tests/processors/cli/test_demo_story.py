"""The demo's story, generated: the same on every run, and consistent with itself."""

from __future__ import annotations

from lineage_collector.events import Deployment, TrainingRun
from lineage_processors.cli.demo_story import (
    AFFECTED_MODELS,
    CUSTOMERS,
    DEMO_SUBJECT_KEY,
    MISLABELLED,
    WINDOW,
    at,
    incident,
    lineage_events,
    predictions,
    serving,
    subject_key,
)
from lineage_processors.settings import WorkerSettings


def test_the_story_is_the_same_on_every_run() -> None:
    assert predictions() == predictions()
    assert [e for e, _ in lineage_events()] == [e for e, _ in lineage_events()]


def test_every_prediction_is_made_by_the_version_its_deployment_served() -> None:
    made = predictions()
    assert len({p.inference_id for p in made}) == len(made)
    assert all((p.model, p.version) == serving(p.deployment, p.when) for p in made)
    router = [p for p in made if p.deployment == "prod/ticket-router"]
    assert router and min(p.when for p in router) >= at(33)
    assert len({p.customer for p in made}) <= CUSTOMERS
    # Predictions of each affected model version, some of them in the incident's window.
    in_window = {p.model_node for p in made if WINDOW[0] <= p.when < WINDOW[1]}
    assert in_window == set(AFFECTED_MODELS)


def test_the_deployments_hand_over_where_the_predictions_say() -> None:
    served = [e for e, _ in lineage_events() if isinstance(e, Deployment)]
    intent = sorted(
        (d.valid_from, d.model_version) for d in served if d.deployment == "prod/intent-api"
    )
    assert [version for _, version in intent] == ["3.4.2", "3.5.0", "3.5.1"]
    assert serving("prod/intent-api", WINDOW[0]) == ("intent-classifier", "3.5.0")
    trained = {
        f"model:{e.model}@{e.model_version}"
        for e, _ in lineage_events()
        if isinstance(e, TrainingRun)
    }
    assert set(AFFECTED_MODELS) < trained


def test_the_incident_names_the_batch_and_its_window() -> None:
    tag = incident()
    assert (tag.record_count, tag.window_start, tag.window_end) == (MISLABELLED, *WINDOW)


def test_the_demo_key_is_used_only_without_one_of_the_users() -> None:
    assert subject_key(WorkerSettings()) == DEMO_SUBJECT_KEY
    assert subject_key(WorkerSettings(subject_key="k" * 40)) == "k" * 40
