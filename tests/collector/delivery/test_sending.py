"""The send path: to librdkafka while Kafka takes events, to the spool while it cannot, and
delivery reports that spool what failed. Nothing listens at the address: no event leaves."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message

from lineage_collector.delivery.kafka_client import DEFAULT_CONFIG
from lineage_collector.delivery.sending import Sender
from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.state import Counters, Switch
from lineage_collector.errors import DeliveryError, SpoolFullError
from tests.collector.delivery.helpers import MiB, records_of, values

# librdkafka's complaints about the address go to logging, not to the test's stderr.
NOWHERE = {
    **DEFAULT_CONFIG,
    "bootstrap.servers": "127.0.0.1:9",
    "logger": logging.getLogger("tests.kafka"),
}


class Rig:
    def __init__(self, spool: Spool | None, **config: Any) -> None:
        self.counters = Counters()
        self.spool = spool
        self.switch = Switch(spool, self.counters)
        self.sender = Sender({**NOWHERE, **config}, self.switch, self.counters, spool)

    def spooling(self) -> None:
        with self.switch.lock:
            self.switch.start_spooling("all brokers are down")

    def close(self) -> None:
        self.sender.client.purge(in_queue=True, in_flight=True)
        if self.spool is not None:
            self.spool.close()


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.close()


@pytest.fixture
def spooled(tmp_path: Path, rigs: list[Rig]) -> Rig:
    rigs.append(Rig(Spool.claim(tmp_path, max_bytes=MiB)))
    return rigs[-1]


@pytest.fixture
def unspooled(rigs: list[Rig]) -> Rig:
    rigs.append(Rig(None))
    return rigs[-1]


def test_while_direct_an_event_goes_to_librdkafka(spooled: Rig) -> None:
    spooled.sender.send("t", b"k", b"v")
    assert spooled.counters.spooled == 0
    assert spooled.spool is not None and spooled.spool.pending == 0
    # librdkafka has it: purged, its delivery report comes back, and it is spooled then.
    spooled.sender.client.purge(in_queue=True, in_flight=True)
    spooled.sender.client.poll(1.0)
    assert values(records_of(spooled.spool)) == [b"v"]


def test_while_spooling_an_event_goes_to_disk(spooled: Rig) -> None:
    spooled.spooling()
    spooled.sender.send("t", b"k", b"v")
    assert spooled.counters.spooled == 1
    spooled.switch.seal_reserved()  # as the replay does once librdkafka settled its part
    assert spooled.spool is not None and values(records_of(spooled.spool)) == [b"v"]


def test_a_full_queue_and_no_delivery_for_a_while_switch_to_the_spool(
    tmp_path: Path, rigs: list[Rig]
) -> None:
    rigs.append(Rig(Spool.claim(tmp_path, max_bytes=MiB), **{"queue.buffering.max.messages": 3}))
    rig = rigs[-1]
    assert rig.sender.stalled()  # nothing was ever delivered
    for i in range(5):
        rig.sender.send("t", b"k", b"%d" % i)
    assert not rig.switch.direct and rig.counters.spooled == 2
    rig.switch.seal_reserved()
    assert rig.spool is not None and values(records_of(rig.spool)) == [b"3", b"4"]


def test_a_record_the_client_refuses_outright_raises(spooled: Rig, rigs: list[Rig]) -> None:
    rigs.append(Rig(None, **{"message.max.bytes": 1000}))
    with pytest.raises(DeliveryError, match="Kafka refused an event for topic t: "):
        rigs[-1].sender.send("t", b"k", b"x" * 5000)


def test_a_closed_producer_refuses_events(spooled: Rig) -> None:
    spooled.spooling()
    spooled.switch.closed = True
    with pytest.raises(DeliveryError, match="closed; create a new client"):
        spooled.sender.send("t", b"k", b"v")


def test_a_full_spool_refuses_events(tmp_path: Path, rigs: list[Rig]) -> None:
    rigs.append(Rig(Spool.claim(tmp_path, max_bytes=100)))
    rigs[-1].spooling()
    with pytest.raises(SpoolFullError, match="LINEAGE_SPOOL_MAX_BYTES"):
        rigs[-1].sender.send("t", b"k", b"x" * 200)


def test_delivery_reports_count_spool_or_lose(spooled: Rig, unspooled: Rig) -> None:
    message = Message(topic="t", key=b"k", value=b"failed")
    spooled.sender.on_delivery(None, message)
    assert spooled.counters.delivered == 1
    # A timeout may pass next time: to the spool, into the segment reserved at the switch.
    spooled.sender.on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out"), message)
    assert not spooled.switch.direct and spooled.counters.spooled == 1
    assert spooled.spool is not None and spooled.spool.pending == 1
    # Too large will never pass: lost, and said so.
    spooled.sender.on_delivery(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too big"), message)
    assert spooled.counters.failed == 1
    assert spooled.counters.last_error == "MSG_SIZE_TOO_LARGE: too big (topic t)"
    # Without a spool a failed delivery is a lost one.
    unspooled.sender.on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out"), message)
    assert unspooled.counters.failed == 1 and unspooled.switch.direct


def test_a_replaced_client_gives_what_it_held_to_the_spool(spooled: Rig) -> None:
    for i in range(4):
        spooled.sender.send("t", b"k", b"%d" % i)
    old = spooled.sender.client
    spooled.sender.replace_client()
    assert spooled.sender.client is not old
    assert not spooled.switch.direct
    assert spooled.counters.spooled == 4 and spooled.counters.failed == 0
    assert spooled.spool is not None
    assert sorted(values(records_of(spooled.spool))) == [b"0", b"1", b"2", b"3"]
