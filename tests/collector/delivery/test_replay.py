"""Sending the spool back: in order, once Kafka answers, each record once. A fake Kafka client
stands in for librdkafka, so each delivery report arrives exactly when the test says."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from lineage_collector.delivery.replay import SpoolReplay
from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.state import Counters, Switch
from tests.collector.delivery.helpers import MiB

Report = Callable[[KafkaError | None, Message], None]


class FakeKafka:
    """Records what is produced; delivery reports go out when :meth:`deliver` says."""

    def __init__(self) -> None:
        self.held: list[tuple[str, bytes, Report]] = []
        self.sent: list[bytes] = []  # every value produced, in order, resends included
        self.answers = True
        self.refuse: list[KafkaException] = []  # raised by the next produce calls

    def produce(self, topic: str, value: bytes, key: bytes, *, on_delivery: Report) -> None:
        if self.refuse:
            raise self.refuse.pop(0)
        self.held.append((topic, value, on_delivery))
        self.sent.append(value)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        if not self.answers:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "no broker"))
        return {}

    def __len__(self) -> int:
        return len(self.held)

    def deliver(self, error_for: Callable[[bytes], KafkaError | None] = lambda v: None) -> None:
        held, self.held = self.held, []
        for topic, value, report in held:
            report(error_for(value), Message(topic=topic, value=value))


class Rig:
    """A spool with ``count`` spooled events, the switch spooling, and a replay over both."""

    def __init__(self, root: Path, count: int) -> None:
        self.kafka = FakeKafka()
        self.counters = Counters()
        self.spool = Spool.claim(root, max_bytes=MiB)
        self.switch = Switch(self.spool, self.counters)
        with self.switch.lock:
            self.switch.start_spooling("all brokers are down")
        self.values = [b"e-%03d" % i for i in range(count)]
        for value in self.values:
            self.spool.append("t", b"k", value)
        self.replay = SpoolReplay(self.spool, self.switch, self.counters, lambda: self.kafka)

    def step(self) -> None:
        self.replay.advance_acks()
        self.replay.step()

    def step_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        """Step as the background thread would, until ``done`` (the probe backs off)."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "the replay did not get there"
            self.step()
            time.sleep(0.01)


def test_the_spool_goes_back_in_order_then_events_go_direct(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 50)
    rig.step()
    assert rig.kafka.sent == rig.values
    assert rig.switch.direct  # all produced: new events queue behind the replayed ones
    assert rig.replay.replaying == 50 and rig.replay.pending() == 50
    rig.kafka.deliver()
    rig.step()
    assert (rig.counters.delivered, rig.counters.replayed) == (50, 50)
    assert rig.replay.pending() == 0 and rig.replay.replaying == 0
    rig.replay.close()


def test_nothing_goes_before_kafka_answers(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 5)
    rig.kafka.answers = False
    rig.step()
    rig.step()
    assert rig.kafka.sent == [] and not rig.switch.direct
    rig.kafka.answers = True
    rig.step_until(lambda: rig.kafka.sent == rig.values)
    rig.replay.close()


def test_what_librdkafka_held_at_the_switch_goes_first(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 2)
    # An event librdkafka held when spooling began is still in memory: wait for its report.
    rig.kafka.held.append(("t", b"in-memory", lambda err, msg: None))
    rig.step()
    assert rig.kafka.sent == [] and rig.switch.reserved is not None
    # It failed: its delivery report wrote it to the reserved segment.
    rig.kafka.held.clear()
    assert rig.switch.reserved is not None
    rig.spool.append("t", b"k", b"held", into=rig.switch.reserved, force=True)
    rig.step()
    assert rig.kafka.sent == [b"held", *rig.values]
    rig.replay.close()


def test_a_refused_record_is_lost_and_the_rest_delivered(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 5)
    rig.step()
    too_big = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too big")
    rig.kafka.deliver(lambda value: too_big if value == b"e-002" else None)
    rig.step()
    assert (rig.counters.delivered, rig.counters.failed) == (4, 1)
    assert rig.counters.last_error == "MSG_SIZE_TOO_LARGE: too big (topic t)"
    assert rig.replay.pending() == 0  # dropped from the spool: sending again cannot help
    rig.replay.close()


def test_a_failed_delivery_rewinds_and_resends_only_what_was_not_delivered(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, 6)
    rig.step()
    timed_out = KafkaError(KafkaError._MSG_TIMED_OUT, "timed out")
    rig.kafka.deliver(lambda value: timed_out if value in (b"e-002", b"e-004") else None)
    assert not rig.switch.direct  # a replayed event failed: spooling again
    rig.step_until(lambda: len(rig.kafka.sent) > 6)
    assert rig.kafka.sent[6:] == [b"e-002", b"e-004"]
    rig.kafka.deliver()
    rig.step_until(lambda: rig.switch.direct)
    rig.step()
    assert (rig.counters.delivered, rig.counters.failed) == (6, 0)
    assert rig.replay.pending() == 0
    rig.replay.close()


def test_a_client_failed_for_good_loses_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 3)
    # librdkafka refuses records with _FATAL until the client is replaced.
    rig.kafka.refuse = [KafkaException(KafkaError(KafkaError._FATAL))]
    rig.step()
    assert rig.kafka.sent == [] and rig.counters.failed == 0
    rig.step()  # the replaced client takes them
    assert rig.kafka.sent == rig.values
    rig.replay.close()


def test_nothing_is_replayed_while_held_or_closed(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 3)
    rig.switch.hold = True
    rig.step()
    assert rig.kafka.sent == []
    rig.switch.hold = False
    rig.switch.closed = True
    rig.step()
    assert rig.kafka.sent == []
    rig.replay.close()


def test_events_a_stopped_producer_left_are_sent_and_its_slot_released(tmp_path: Path) -> None:
    gone = Spool.claim(tmp_path, max_bytes=MiB)
    gone.append("t", b"k", b"left-1")
    gone.append("t", b"k", b"left-2")
    gone.close()
    kafka = FakeKafka()
    counters = Counters()
    spool = Spool.claim(tmp_path, max_bytes=MiB)
    replay = SpoolReplay(spool, Switch(spool, counters), counters, lambda: kafka)
    replay.step()  # looks for abandoned slots on its first step, then replays them
    assert replay.pending() == 2
    replay.step()
    assert kafka.sent == [b"left-1", b"left-2"]
    kafka.deliver()
    replay.advance_acks()
    replay.step()
    assert (counters.delivered, counters.replayed) == (2, 2)
    assert replay.pending() == 0
    assert list(gone.path.glob("*.seg")) == []
    assert Spool.adopt(tmp_path) == []
    replay.close()
