"""What the producer's threads share: the switch between Kafka and the spool, and the counters."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.state import Counters, Switch
from lineage_collector.log_hygiene import forget_sdk_repeats
from tests.collector.delivery.helpers import MiB, records_of

PRODUCER_LOG = "lineage_collector.delivery.producer"


def test_losses_are_counted_logged_once_and_taken_by_the_next_flush(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters = Counters()
    with caplog.at_level(logging.ERROR, logger=PRODUCER_LOG):
        counters.lose(2, "MSG_SIZE_TOO_LARGE: too big (topic t)")
        counters.lose(1, "spool write failed")
    assert (counters.failed, counters.last_error) == (3, "spool write failed")
    assert [r.getMessage() for r in caplog.records] == [
        "2 lineage events lost: MSG_SIZE_TOO_LARGE: too big (topic t)"
    ]
    assert counters.take_losses() == (3, "spool write failed")
    assert counters.take_losses() == (0, "spool write failed")
    assert counters.failed == 3  # the total stays, for metrics
    caplog.clear()
    forget_sdk_repeats()  # the same complaint within a minute is held back otherwise
    with caplog.at_level(logging.ERROR, logger=PRODUCER_LOG):
        counters.lose(1, "again")
    assert len(caplog.records) == 1  # a new round after the flush took the losses


def test_without_a_spool_nothing_switches() -> None:
    switch = Switch(None, Counters())
    with switch.lock:
        switch.start_spooling("all brokers are down")
    assert switch.direct and switch.reserved is None


def test_spooling_reserves_a_segment_once_and_asks_for_a_probe(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB)
    switch = Switch(spool, Counters())
    switch.probe_needed = False
    with switch.lock:
        switch.start_spooling("all brokers are down")
        reserved = switch.reserved
        switch.start_spooling("a delivery failed")  # already spooling: same segment
    assert not switch.direct and switch.probe_needed
    assert reserved is not None and switch.reserved == reserved
    spool.close()


def test_one_warning_per_outage_and_one_when_kafka_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB)
    counters = Counters()
    switch = Switch(spool, counters)
    with caplog.at_level(logging.WARNING, logger=PRODUCER_LOG):
        with switch.lock:
            switch.start_spooling("all brokers are down")
            reserved = switch.reserved
            spool.append("t", b"k", b"held", into=reserved)
            switch.count_spooled(1)
            spool.append("t", b"k", b"new")
            switch.count_spooled(1)
        assert counters.spooled == 2
        # The reader stops at the open reserved segment, and so does the switch.
        (held,) = records_of(spool)
        switch.stop_spooling(held.end)
        assert not switch.direct
        switch.seal_reserved()
        assert switch.reserved is None
        (held, new) = records_of(spool)
        switch.stop_spooling(held.end)  # one record still to replay
        assert not switch.direct
        switch.stop_spooling(new.end)
        assert switch.direct
    assert [r.getMessage() for r in caplog.records] == [
        f"Kafka cannot take events now; they wait in the spool {spool.path} and are sent in "
        "order once it is back.",
        "Kafka takes events again; the 2 spooled meanwhile are sent.",
    ]
    assert held.value == b"held" and new.value == b"new"
    spool.close()
