"""What attribution reacts to (against a real chDB store), and how often it reloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lineage_collector.catalog import load_catalog
from lineage_collector.events import DatasetRef, Deployment, TrainingRun
from lineage_collector.wire import encode
from lineage_processors.derive.attribution import (
    GRACE_SECONDS,
    Attribution,
    Keys,
    reload_due,
    unexpired,
)
from lineage_processors.derive.state import stored_from
from lineage_processors.ingest.processor import Record
from lineage_processors.ingest.reference.events import map_event
from lineage_processors.ingest.reference.mapping import Origin, RowBatch
from lineage_processors.ingest.reference.path import decode_and_map
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import ClickHouseSink

WHEN = datetime(2026, 5, 1, tzinfo=UTC)


def rows(event: Any) -> RowBatch:
    record = {"event_id": "e1", "event_time": WHEN, "producer": "p", "namespace": "ns"}
    return map_event(event.SCHEMA, {**record, **event.fields()}, Origin("t", 0, 0))


def settled(store: Store, event: Any) -> list[Keys]:
    """The keys the attribution step settles after ``event`` is stored (as read from Kafka)."""
    catalog = load_catalog()
    record = {"event_id": "e1", "event_time": WHEN, "producer": "p", "namespace": "ns"}
    value = encode(catalog.by_name(event.SCHEMA), {**record, **event.fields()})
    batch, rejected = decode_and_map(catalog, [Record("t", 0, 0, b"k", value)])
    assert not rejected
    ClickHouseSink(store).write(batch)
    attribution = Attribution(store)
    attribution.after_write({("t", 0): (0, 0)})
    return [keys for _, keys in attribution.recent]


def training(status: str) -> TrainingRun:
    return TrainingRun(
        "churn",
        "2.0",
        [DatasetRef("crm/accounts", "v3", "train"), DatasetRef("crm/accounts", "v3-t", "test")],
        run_id="r1",
        code_version="git:8d41e07",
        status=status,
    )


def test_a_completed_training_run_attributes_its_model_version(store: Store) -> None:
    batch = rows(training("COMPLETED"))
    assert batch.model_training == [
        (
            "model:churn@2.0",
            "run:r1",
            ["dataset:crm/accounts@v3", "dataset:crm/accounts@v3-t"],
            ["train", "test"],
            "git:8d41e07",
            WHEN,
            "e1",
        )
    ]
    [keys] = settled(store, training("COMPLETED"))
    assert keys.ranges == {("t", 0): (0, 0)}


@pytest.mark.parametrize("status", ["STARTED", "FAILED"])
def test_a_run_that_made_no_model_version_attributes_nothing(store: Store, status: str) -> None:
    batch = rows(training(status))
    assert batch.model_training == []
    assert len(batch.edges) == 3  # its lineage is kept all the same
    assert settled(store, training(status)) == []


def test_a_deployment_changes_its_deployment_predictions(store: Store) -> None:
    deployment = Deployment("prod/churn", "prod", "churn", "2.0", WHEN)
    assert rows(deployment).deployments
    assert len(settled(store, deployment)) == 1


def test_reloads_take_at_most_a_fifth_of_the_time() -> None:
    assert reload_due(now=100.0, reloaded_at=float("-inf"), reload_seconds=0.0)
    assert not reload_due(now=100.4, reloaded_at=100.0, reload_seconds=0.1)
    assert reload_due(now=100.5, reloaded_at=100.0, reload_seconds=0.1)


def test_settled_keys_are_checked_again_for_a_grace_period() -> None:
    old, new = Keys({"model:a@1"}), Keys({"model:b@1"})
    assert unexpired([(0.0, old), (10.0, new)], GRACE_SECONDS + 5.0) == [(10.0, new)]


def test_stale_predictions_are_looked_up_by_name_and_by_batch() -> None:
    named = Keys({"model:a@1"}, {"deployment:prod/x"}).stale()
    for part in (
        "model_node IN ['model:a@1']",
        "deployment IN ['deployment:prod/x']",
        "served_model IN ['model:a@1']",
    ):
        assert part in named
    assert "SELECT" not in named.split(" AND (served_model !=")[0]
    by_offsets = Keys(ranges={("t", 0): (1, 1)}).stale()
    stored = stored_from({("t", 0): (1, 1)})
    for part in (
        f"model_node IN (SELECT model_node FROM model_training WHERE {stored})",
        f"deployment IN (SELECT deployment FROM deployments WHERE {stored})",
        f"served_model IN (SELECT model_node FROM model_training WHERE {stored})",
    ):
        assert part in by_offsets


def test_keys_of_many_runs_are_one_range_per_partition() -> None:
    keys = Keys()
    for first in range(0, 300, 10):
        keys.update(Keys(ranges={("t", 0): (first, first + 9)}))
    assert keys.ranges == {("t", 0): (0, 299)}
    assert keys.stale().count("BETWEEN") == 3  # one per subquery


def test_the_sweep_resolves_a_prediction_that_raced_a_reload(store: Store) -> None:
    [keys] = settled(store, training("COMPLETED"))
    attribution = Attribution(store)
    attribution.swept = True  # only the recent keys' check, not the first sweep's look
    attribution.recent = [(attribution.clock(), keys)]
    assert not attribution.any_unresolved()
    attribution.sweep()  # nothing unresolved: nothing to do
    # A prediction inserted while the dictionary was reloading got the old answer.
    store.client.insert(
        "inferences",
        [("p1", "model:churn@2.0", WHEN, "model:churn@2.0", "", 0)],
        column_names=[
            "inference_id",
            "model_node",
            "event_time",
            "served_model",
            "training_run",
            "resolved",
        ],
    )
    assert attribution.any_unresolved()
    attribution.sweep()
    assert not attribution.any_unresolved()
    assert store.query("SELECT training_run, resolved FROM inferences").result_rows == [
        ("run:r1", 1)
    ]
