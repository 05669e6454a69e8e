"""The disk spool on its own: order, acknowledgements, checkpoints, size, reserved segments.
No Kafka here."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage_collector.delivery.spool import Spool
from lineage_collector.errors import DeliveryError, SpoolFullError
from tests.collector.delivery.helpers import MiB, records_of, segment_files, values


def test_records_read_back_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB, segment_bytes=256)
    sent = [
        (f"topic-{i % 3}", f"key-{i}".encode(), f"value-{i}".encode() * (i % 5)) for i in range(60)
    ]
    sent.append(("lineage.events", b"", b""))
    sent.append(("ünïcode.topic", b"\x00\xff", bytes(range(256)) * 40))  # larger than a segment
    for topic, key, value in sent:
        spool.append(topic, key, value)

    got = records_of(spool)
    assert [(r.topic, r.key, r.value) for r in got] == sent
    assert len(segment_files(spool)) > 5
    assert spool.pending == len(sent)
    assert [r.end for r in got] == sorted(r.end for r in got)
    # Reading again from a record's end position continues right after it.
    assert records_of(spool, got[9].end)[0].value == sent[10][2]
    spool.close()


def test_a_segment_is_deleted_once_all_its_records_are_acknowledged(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB, segment_bytes=200)
    for i in range(20):
        spool.append("t", b"k", b"v" * 30 + str(i).encode())
    files = segment_files(spool)
    assert len(files) >= 4
    got = records_of(spool)
    first_segment = [r for r in got if r.end.segment == got[0].end.segment]

    spool.ack(first_segment[-2].end, len(first_segment) - 1)
    assert files[0].exists()  # one record of it is still unacknowledged
    spool.ack(first_segment[-1].end, 1)
    assert not files[0].exists()
    assert spool.pending == 20 - len(first_segment)

    spool.ack(got[-1].end, spool.pending)
    assert spool.pending == 0
    assert segment_files(spool) == [files[-1]]  # the open tail stays until it is sealed
    spool.close()
    assert segment_files(spool) == []
    assert spool.bytes == 0


def test_the_checkpoint_keeps_acknowledged_records_from_being_sent_again(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB)
    for i in range(3):
        spool.append("t", b"k", f"event-{i}".encode())
    got = records_of(spool)
    spool.ack(got[1].end, 2)
    spool.save_checkpoint()
    assert (spool.path / "checkpoint").read_text().split() == [
        str(got[1].end.segment),
        str(got[1].end.offset),
    ]
    spool.close()

    (reopened,) = Spool.adopt(tmp_path)
    assert reopened.pending == 1
    assert values(records_of(reopened)) == [b"event-2"]
    # New segments in a reused slot sort after the checkpoint, so nothing new reads as acked.
    reopened.ack(records_of(reopened)[-1].end, 1)
    reopened.close()
    again = Spool.claim(tmp_path, max_bytes=MiB)
    assert again.path == spool.path
    again.append("t", b"k", b"fresh")
    assert values(records_of(again)) == [b"fresh"]
    again.close()


def test_a_full_spool_refuses_new_events_with_what_to_do(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=200)
    spool.append("t", b"k", b"x" * 100)
    with pytest.raises(SpoolFullError) as caught:
        spool.append("t", b"k", b"x" * 100)
    message = str(caught.value)
    assert str(spool.path) in message
    assert "LINEAGE_SPOOL_MAX_BYTES" in message and "200" in message
    assert isinstance(caught.value, DeliveryError)
    # Events already accepted are kept whatever the limit.
    spool.append("t", b"k", b"y" * 100, force=True)
    assert values(records_of(spool)) == [b"x" * 100, b"y" * 100]
    spool.close()


def test_a_reserved_segment_replays_before_later_appends(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB)
    spool.append("t", b"k", b"a")
    reserved = spool.reserve_segment()
    spool.append("t", b"k", b"c")
    spool.append("t", b"k", b"b", into=reserved)
    # The reader stops at the open reserved segment: more may still arrive there.
    assert values(records_of(spool)) == [b"a", b"b"]
    last = records_of(spool)[-1].end
    assert not spool.caught_up(last)
    spool.seal(reserved)
    assert values(records_of(spool)) == [b"a", b"b", b"c"]
    spool.append("t", b"k", b"d", into=reserved)  # sealed: goes to the end instead
    got = records_of(spool)
    assert values(got) == [b"a", b"b", b"c", b"d"]
    assert spool.caught_up(got[-1].end)
    assert not spool.caught_up(got[-2].end)
    # Acknowledged and sealed segments go, an empty reserved one included.
    spool.ack(got[-1].end, 4)
    assert len(segment_files(spool)) == 1  # the open tail
    empty = spool.reserve_segment()
    assert len(segment_files(spool)) == 2
    spool.seal(empty)
    assert segment_files(spool) == []
    assert spool.pending == 0
    spool.close()
