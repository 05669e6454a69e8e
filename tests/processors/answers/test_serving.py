"""A prediction naming only its deployment was made by the model version the deployment served
at its time; a prediction without a subject concerns nobody.

::

    dataset:s/a@v1 --> train --> model:m@1 --deployed [h0, h10)--> deployment:prod/api
    dataset:s/b@v1 --> train --> model:m@2 --deployed [h10, -)---> deployment:prod/api

Predictions at the deployment only: p1 at h5 (alice), p2 at h12 (bob), p3 at h13 (no subject).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lineage_collector import DatasetRef
from lineage_collector.events import Deployment, Inference, Tag, TrainingRun
from lineage_processors.answers.impact import impact
from lineage_processors.answers.runner import StoreRunner
from lineage_processors.store import migrate, open_store
from tests.processors.answers.direct import DirectWriter

BASE = datetime(2026, 5, 1, tzinfo=UTC)
M1, M2, API = "model:m@1", "model:m@2", "deployment:prod/api"


def at(hour: int) -> datetime:
    return BASE + timedelta(hours=hour)


def iso(hour: int) -> str:
    return at(hour).replace(tzinfo=None).isoformat()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreRunner]:
    store = open_store(f"chdb://{tmp_path_factory.mktemp('serving') / 'chdb'}", role="test")
    migrate(store)
    writer = DirectWriter(store)
    writer.write(
        [
            (TrainingRun("m", "1", [DatasetRef("s/a", "v1", "train")]), at(0)),
            (TrainingRun("m", "2", [DatasetRef("s/b", "v1", "train")]), at(0)),
            (Deployment("prod/api", "prod", "m", "1", at(0), at(10)), at(0)),
            (Deployment("prod/api", "prod", "m", "2", at(10)), at(10)),
            (Tag("dataset:s/a@v1", "bias", "INC-A", window_start=at(0)), at(1)),
        ]
    )
    writer.write(
        [
            (Inference("p1", deployment="prod/api", subject="alice", output="y"), at(5)),
            (Inference("p2", deployment="prod/api", subject="bob", output="n"), at(12)),
            (Inference("p3", deployment="prod/api", output="n"), at(13)),
        ]
    )
    yield StoreRunner(store)
    store.close()


def test_a_dataset_reaches_only_the_predictions_of_the_version_it_trained(
    runner: StoreRunner,
) -> None:
    answer = impact(runner, "dataset:s/a@v1")
    assert {r[1] for r in answer.section("reached").rows} >= {M1, API}
    assert answer.section("predictions").rows[0][:4] == [1, 1, iso(5), iso(5)]
    assert answer.section("by model version and output").rows == [[M1, "y", 1, 1, iso(5), iso(5)]]


def test_a_prediction_without_a_subject_is_no_person(runner: StoreRunner) -> None:
    answer = impact(runner, "dataset:s/b@v1")
    assert answer.section("predictions").rows[0][:2] == [2, 1]
    assert answer.section("by model version and output").rows == [[M2, "n", 2, 1, iso(12), iso(13)]]


def test_a_deployment_reaches_every_prediction_made_there(runner: StoreRunner) -> None:
    answer = impact(runner, API)
    assert answer.section("predictions").rows[0][:2] == [3, 2]


def test_an_incident_counts_the_predictions_of_the_version_it_reached(runner: StoreRunner) -> None:
    answer = impact(runner, "incident:INC-A")
    assert answer.section("predictions").rows[0][:2] == [1, 1]
    assert [r[0] for r in answer.section("by model version and output").rows] == [M1]


@pytest.mark.parametrize("node", ["dataset:s/a@v1", "dataset:s/b@v1", API])
def test_the_impact_of_view_answers_as_the_command(runner: StoreRunner, node: str) -> None:
    command = impact(runner, node).section("predictions").rows[0][:2]
    view = runner.run(
        "SELECT sum(predictions), sum(subjects) FROM impact_of(node = {n:String}, "
        "since = '1970-01-01 00:00:00', until = '2100-01-01 00:00:00')",
        {"n": node},
    ).rows[0]
    assert [int(v) for v in view] == command
