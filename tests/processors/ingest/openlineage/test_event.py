"""One OpenLineage event as a whole: its Kafka key, its id, and bytes that are no event at all."""

from __future__ import annotations

import copy
import json

import pytest

from lineage_processors.ingest.openlineage.event import event_id, message_key
from lineage_processors.ingest.openlineage.fields import OpenLineageDecodeError
from lineage_processors.ingest.openlineage.mapping import map_openlineage
from tests.processors.ingest.openlineage.samples import (
    ORIGIN,
    PARENT,
    ROOT,
    complete_event,
    facet,
    mapped,
    start_event,
)


def test_message_key_is_the_kafka_transports() -> None:
    assert message_key(start_event()) == "run:airflow/orders_dag.load"
    child = complete_event()
    child["run"]["facets"] = {
        "parent": facet(run={"runId": PARENT}, job={"namespace": "airflow", "name": "orders_dag"})
    }
    assert message_key(child) == "run:airflow/orders_dag"
    child["run"]["facets"]["parent"]["root"] = {
        "run": {"runId": ROOT},
        "job": {"namespace": "scheduler", "name": "nightly"},
    }
    assert message_key(child) == "run:scheduler/nightly"


def test_event_id_is_the_content_not_the_spelling() -> None:
    event = start_event()
    reordered = dict(reversed(list(copy.deepcopy(event).items())))
    assert event_id(reordered) == event_id(event)
    assert mapped(reordered).events_raw[0][0] == event_id(event)
    event["eventTime"] = "2026-05-01T10:00:00.124Z"
    assert event_id(event) != event_id(reordered)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe{}", "OpenLineage event is not UTF-8 text"),
        (b"{not json", "OpenLineage event is not JSON"),
        (b"[1, 2]", "OpenLineage event must be a JSON object, not list"),
        (b"[" * 100_000 + b"]" * 100_000, "OpenLineage event is nested too deeply"),
        (json.dumps(start_event(producer="\ud800")).encode(), "holds text that is not Unicode"),
    ],
)
def test_undecodable_bytes_are_decode_errors(raw: bytes, message: str) -> None:
    with pytest.raises(OpenLineageDecodeError, match=message):
        map_openlineage(raw, ORIGIN)
