"""Pipeline steps on a stand-in client: STARTED and COMPLETED or FAILED, with what the step
gathered; the step's own error untouched, lineage's own problems only logged."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pytest

from lineage_collector import DatasetRef, TransformationRun
from lineage_collector.errors import DeliveryError, InvalidEventError
from lineage_collector.events import Event
from lineage_collector.steps import StepSpec

RAW = DatasetRef("lake/raw", "v1")
CLEAN = DatasetRef("warehouse/clean", "v4")


class FakeEmitter:
    """An :class:`~lineage_collector.emitter.Emitter` that keeps the events."""

    def __init__(self) -> None:
        self.events: list[TransformationRun] = []
        self.refuse = False

    def emit(
        self, event: Event, *, event_id: str | None = None, event_time: datetime | None = None
    ) -> str:
        if self.refuse:
            raise DeliveryError("Kafka refused an event")
        event.validate()
        assert isinstance(event, TransformationRun)
        self.events.append(event)
        return "id"


def step(
    emitter: FakeEmitter, kind: str = "CLEAN", details: dict[str, Any] | None = None
) -> StepSpec:
    """``etl/clean`` as ``LineageClient.step`` declares it."""
    return StepSpec(
        emitter,
        "etl/clean",
        kind=kind,
        inputs=(RAW,),
        outputs=(),
        parameters={"drop_nulls": True},
        code_version="abc123",
        details=details or {},
    )


def test_a_step_records_what_it_gathered_when_it_completes() -> None:
    emitter = FakeEmitter()
    with step(emitter) as run:
        run.add_output(CLEAN)
        run.set_parameter("threshold", 0.5)
    started, completed = emitter.events
    assert (started.status, completed.status) == ("STARTED", "COMPLETED")
    assert started.run_id == completed.run_id == run.run_id
    assert started.outputs == () and completed.outputs == (CLEAN,)
    assert completed.inputs == (RAW,)
    assert completed.parameters == {"drop_nulls": True, "threshold": 0.5}
    assert (completed.job, completed.kind, completed.code_version) == (
        "etl/clean",
        "CLEAN",
        "abc123",
    )


def test_a_failing_step_records_the_error_and_raises_it_untouched() -> None:
    emitter = FakeEmitter()
    with pytest.raises(ValueError, match="bad row 7"), step(emitter):
        raise ValueError("bad row 7")
    assert [e.status for e in emitter.events] == ["STARTED", "FAILED"]
    assert emitter.events[-1].error_message == "ValueError: bad row 7"


def test_as_a_decorator_each_call_is_a_run_of_its_own() -> None:
    emitter = FakeEmitter()

    @step(emitter, details={"annotator": "team-a"})
    def clean(rows: int) -> int:
        return rows - 1

    assert clean(10) == 9
    assert clean(5) == 4
    assert [e.status for e in emitter.events] == ["STARTED", "COMPLETED"] * 2
    assert emitter.events[0].run_id != emitter.events[2].run_id
    assert emitter.events[1].annotator == "team-a"
    assert clean.__name__ == "clean"


def test_a_bad_declaration_is_refused_where_it_is_written() -> None:
    with pytest.raises(InvalidEventError, match="field 'kind' is 'MAGIC'"):
        step(FakeEmitter(), kind="MAGIC")


def test_lineage_that_cannot_be_recorded_never_breaks_the_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = FakeEmitter()
    emitter.refuse = True
    with caplog.at_level(logging.ERROR, logger="lineage_collector.steps"), step(emitter) as run:
        done = True
    assert done
    assert f"lineage of step etl/clean (run {run.run_id}) not recorded" in caplog.text
