"""The producer with nothing listening at its address: what waits, where, and what is said.
The way back to a live broker is tests/e2e/test_spool_kafka.py."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from lineage_collector.delivery import EventProducer
from lineage_collector.delivery.spool import Spool
from lineage_collector.errors import DeliveryError

NOWHERE = "127.0.0.1:9"
PRODUCER_LOG = "lineage_collector.delivery.producer"


def spool_until(producer: EventProducer, count: int, timeout: float = 10.0) -> None:
    """Send events until ``count`` of them went to the spool (the first ones go to
    librdkafka, until it reports that no broker answers)."""
    deadline = time.monotonic() + timeout
    while producer.spooled < count:
        assert time.monotonic() < deadline, "nothing was spooled"
        producer.send("lineage.events", b"k", b"event")
        time.sleep(0.001)


def test_without_a_spool_flush_says_what_still_waits() -> None:
    producer = EventProducer(NOWHERE)
    producer.send("lineage.events", b"k", b"event")
    with pytest.raises(DeliveryError, match="1 events still waiting for Kafka after 0s"):
        producer.flush(0.3)
    with pytest.raises(DeliveryError, match="is the broker reachable"):
        producer.close(0.3)
    assert producer.spooled == 0


def test_with_a_spool_events_wait_on_disk_for_the_next_producer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    producer = EventProducer(NOWHERE, spool_dir=tmp_path)
    spool_until(producer, 10)
    waiting = producer.flush(0.3)  # no error: what Kafka cannot take yet is safe on disk
    assert waiting >= 10
    with caplog.at_level(logging.WARNING, logger=PRODUCER_LOG):
        producer.close(0.3)
    assert f"lineage events wait in the spool folder {tmp_path}" in caplog.text
    assert (producer.delivered, producer.failed, producer.last_error) == (0, 0, None)
    (left,) = Spool.adopt(tmp_path)
    # Those librdkafka held were moved to the spool too: every event is there, once.
    assert left.pending == waiting == producer.spooled
    left.close()


def test_a_closed_producer_refuses_events(tmp_path: Path) -> None:
    producer = EventProducer(NOWHERE, spool_dir=tmp_path)
    producer.close(0.3)
    producer.close(0.3)  # twice is harmless
    with pytest.raises(DeliveryError, match="closed; create a new client"):
        spool_until(producer, 1)


def test_an_unusable_spool_folder_is_said_and_memory_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with caplog.at_level(logging.ERROR, logger=PRODUCER_LOG):
        producer = EventProducer(NOWHERE, spool_dir=not_a_folder)
    assert f"The spool folder {not_a_folder} cannot be used" in caplog.text
    producer.send("lineage.events", b"k", b"event")
    with pytest.raises(DeliveryError, match="still waiting for Kafka"):
        producer.close(0.3)


def test_a_bad_configuration_releases_the_spool_slot(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"no\.such\.setting"):
        EventProducer(NOWHERE, {"no.such.setting": 1}, spool_dir=tmp_path)
    claimed = Spool.claim(tmp_path, max_bytes=1 << 20)
    assert claimed.path.name == "slot-0"  # free again
    claimed.close()
