"""Events about models: training runs, deployments, predictions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lineage_collector.errors import InvalidEventError
from lineage_collector.events.fields import DatasetRef, InputRef
from lineage_collector.events.models import Deployment, Inference, TrainingRun

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_training_run_is_about_the_model_version() -> None:
    run = TrainingRun("intent", "3.4.2", [DatasetRef("d", "v1")], metrics={"f1": "0.9"})
    run.validate()
    assert run.key() == "model:intent@3.4.2"
    fields = run.fields()
    assert fields["datasets"][0]["role"] == "train"  # what a model is trained on, unless said
    assert fields["metrics"] == {"f1": 0.9}
    with pytest.raises(InvalidEventError, match="field 'datasets' is empty"):
        TrainingRun("intent", "3.4.2", []).validate()


def test_a_deployment_serves_from_a_time_until_a_later_one() -> None:
    deployment = Deployment("prod/intent-api", "prod", "intent", "3.4.2", START)
    deployment.validate()
    assert deployment.key() == "deployment:prod/intent-api"
    with pytest.raises(InvalidEventError, match="'valid_until' is before 'valid_from'"):
        Deployment("prod/api", "prod", "m", "1", START, START - timedelta(days=1)).validate()
    with pytest.raises(InvalidEventError, match="field 'environment' is required"):
        Deployment("prod/api", "", "m", "1", START).validate()


def test_a_prediction_is_keyed_by_what_made_it() -> None:
    by_model = Inference("p1", model="intent", model_version="3.4.2", inputs=[InputRef("r", "1")])
    by_model.validate()
    assert by_model.key() == "model:intent@3.4.2"
    assert by_model.fields()["inputs"] == [{"kind": "r", "ref": "1", "dataset": None}]
    assert Inference("p2", deployment="prod/intent-api").key() == "deployment:prod/intent-api"
    with pytest.raises(InvalidEventError, match="Inference 'p3': give model and model_version"):
        Inference("p3", model="intent").validate()
