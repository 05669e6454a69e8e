"""Bad events are refused at the emit call, naming the field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from lineage_collector import (
    DatasetRef,
    Inference,
    InvalidEventError,
    LineageClient,
    Tag,
    TrainingRun,
    TransformationRun,
)
from lineage_collector.config import Settings
from lineage_collector.errors import ConfigError

KEY = "k" * 40


@pytest.fixture
def make_client(settings: Settings) -> Iterator[Callable[..., LineageClient]]:
    """Clients on the session's real Kafka, closed when the test ends."""
    made: list[LineageClient] = []

    def make(**changes: Any) -> LineageClient:
        made.append(LineageClient.from_settings(settings.replace(**changes)))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture
def client(make_client: Callable[..., LineageClient]) -> LineageClient:
    return make_client(subject_key=KEY, max_event_bytes=10_000)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (Inference(""), "field 'inference_id' is required"),
        (Inference("x"), "give model and model_version, or deployment"),
        (TrainingRun("m", "1", []), "field 'datasets' is empty"),
        (
            TrainingRun("m", 3, [DatasetRef("d", "v")]),  # type: ignore[arg-type]
            "model version 3 is a int, expected a string",
        ),
        (
            TrainingRun("m", "1", [DatasetRef("d", "v")], status="DONE"),
            "field 'status' is 'DONE', expected one of STARTED, COMPLETED, FAILED",
        ),
        (TransformationRun("etl/x", kind="MAGIC"), "field 'kind' is 'MAGIC'"),
        (
            TransformationRun("etl/x", inputs=["raw"]),  # type: ignore[list-item]
            r"inputs\[0\] must be a DatasetRef",
        ),
        (Tag("widget:x", "pii"), "unknown kind 'widget'"),
    ],
)
def test_invalid_events_name_the_field(client: LineageClient, event: object, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        client.emit(event)  # type: ignore[arg-type]


def test_wrong_type_inside_a_field_is_named(client: LineageClient) -> None:
    run = TrainingRun("m", "1", [DatasetRef("d", "v")], metrics={"f1": "high"})  # type: ignore[dict-item]
    with pytest.raises(InvalidEventError, match="field 'metrics' entry 'f1' is 'high'"):
        client.emit(run)


def test_wrong_type_caught_by_the_schema_is_named(client: LineageClient) -> None:
    from lineage_collector import SourceExtraction

    event = SourceExtraction("crm/export", "sf", "sf://x", "12", DatasetRef("d", "v"))  # type: ignore[arg-type]
    with pytest.raises(
        InvalidEventError, match=r"SourceExtraction\.record_count is <12> of type <class 'str'>"
    ):
        client.emit(event)


def test_oversize_event_names_the_largest_field(client: LineageClient) -> None:
    run = TrainingRun("m", "1", [DatasetRef("d", "v")], hyperparameters={"blob": "x" * 20_000})
    with pytest.raises(
        InvalidEventError,
        match=r"over the limit of 10000 \(LINEAGE_MAX_EVENT_BYTES\); field "
        r"'hyperparameters' is the largest",
    ):
        client.emit(run)


def test_event_id_and_time_are_checked(client: LineageClient) -> None:
    run = TrainingRun("m", "1", [DatasetRef("d", "v")])
    with pytest.raises(InvalidEventError, match="field 'event_id' is 'abc', not a UUID"):
        client.emit(run, event_id="abc")
    with pytest.raises(InvalidEventError, match="must be timezone-aware"):
        client.emit(run, event_time=datetime(2026, 1, 1))
    assert client.emit(run, event_time=datetime(2026, 1, 1, tzinfo=UTC))


def test_subject_key_is_required_and_long_enough(
    make_client: Callable[..., LineageClient],
) -> None:
    short = make_client(subject_key="short")
    with pytest.raises(ConfigError, match="LINEAGE_SUBJECT_KEY is too short"):
        short.emit_subject_links("dataset:d@v1", ["alice"])
    missing = make_client(subject_key="")
    with pytest.raises(ConfigError, match="LINEAGE_SUBJECT_KEY is not set"):
        missing.pseudonym("alice")


def test_pseudonyms_are_stable_and_keyed(
    client: LineageClient, make_client: Callable[..., LineageClient]
) -> None:
    other = make_client(subject_key="z" * 40)
    assert client.pseudonym("alice") == client.pseudonym("alice")
    assert client.pseudonym("alice") != client.pseudonym("bob")
    assert client.pseudonym("alice") != other.pseudonym("alice")
    assert len(client.pseudonym("alice")) == 64 and "alice" not in client.pseudonym("alice")
    assert "k" * 40 not in repr(client.pseudonymizer)
