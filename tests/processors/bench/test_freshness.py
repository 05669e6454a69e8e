"""The freshness bench's graph events: encoded ahead, stamped with their time when sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from lineage_collector import LineageClient
from lineage_collector.catalog import load_catalog
from lineage_collector.wire import decode
from lineage_processors.bench.freshness import _Events

KEY = "k" * 64
CATALOG = load_catalog()


@pytest.fixture
def client() -> Iterator[LineageClient]:
    # Nothing is sent: the client only frames events.
    client = LineageClient("127.0.0.1:9", subject_key=KEY, producer_config={"log_level": 0})
    yield client
    client.close()


def _times(values: list[tuple[bytes, bytes]]) -> list[datetime]:
    return [decode(CATALOG, value)[1]["event_time"] for _, value in values]


def test_prepared_events_carry_the_time_they_are_sent_at(client: LineageClient) -> None:
    events = _Events(client, "graph")
    events.prepare(3)
    sent = 1_790_000_000_123
    made = events.make(3, sent) + events.make(2, sent + 1)  # two past what was prepared
    assert (
        _times(made)
        == [datetime.fromtimestamp(sent / 1000, UTC)] * 3
        + [datetime.fromtimestamp((sent + 1) / 1000, UTC)] * 2
    )
    fields = [decode(CATALOG, value)[1] for _, value in made]
    assert len({f["event_id"] for f in fields}) == 5
    assert [f["model_version"] for f in fields] == [f"{events.tag}.{i}" for i in range(5)]
    assert events.prepared == []


def test_a_time_of_another_width_is_encoded_afresh(client: LineageClient) -> None:
    events = _Events(client, "graph")
    events.prepare(1)
    # 2^41 ms and later take a varint byte more than today's times.
    later = 1 << 41
    [(_, value)] = events.make(1, later)
    assert _times([(b"", value)]) == [datetime.fromtimestamp(later / 1000, UTC)]
