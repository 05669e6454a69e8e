"""The disk spool on its own: files, order, crashes, slots. No Kafka here."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lineage_collector.delivery.spool import DATA_START, Position, Spool, SpooledRecord
from lineage_collector.errors import DeliveryError, SpoolFullError

MiB = 1 << 20


def records_of(spool: Spool, start: Position | None = None) -> list[SpooledRecord]:
    """Everything readable from ``start`` (default: the checkpoint), read in small pieces."""
    position = spool.checkpoint if start is None else start
    out: list[SpooledRecord] = []
    while batch := spool.read(position, max_records=7, max_bytes=300):
        out += batch
        position = batch[-1].end
    return out


def values(records: list[SpooledRecord]) -> list[bytes]:
    return [record.value for record in records]


def segment_files(spool: Spool) -> list[Path]:
    return sorted(spool.path.glob("*.seg"))


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


def test_a_torn_tail_is_cut_off_on_open(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB)
    for i in range(5):
        spool.append("t", b"k", f"event-{i}".encode())
    spool.close()
    (segment,) = segment_files(spool)
    intact = segment.stat().st_size
    with segment.open("r+b") as handle:  # a crash in the middle of writing the last record
        handle.truncate(intact - 4)

    (reopened,) = Spool.adopt(tmp_path)
    assert values(records_of(reopened)) == [b"event-0", b"event-1", b"event-2", b"event-3"]
    assert reopened.pending == 4
    assert segment.stat().st_size < intact - 4  # the torn record is gone from the file too
    reopened.close()


def test_a_corrupt_record_and_what_follows_it_are_dropped(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB)
    for i in range(3):
        spool.append("t", b"k", f"event-{i}".encode())
    spool.close()
    (segment,) = segment_files(spool)
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last record's value: the CRC catches it
    segment.write_bytes(bytes(data) + b"\x00" * 64)  # plus zeros a crash can leave behind

    (reopened,) = Spool.adopt(tmp_path)
    assert values(records_of(reopened)) == [b"event-0", b"event-1"]
    reopened.close()


def test_records_survive_a_process_that_dies_without_closing(tmp_path: Path) -> None:
    child = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from lineage_collector.delivery.spool import Spool
        spool = Spool.claim(Path({str(tmp_path)!r}), max_bytes=1 << 20)
        for i in range(100):
            spool.append("t", b"k", b"event-%d" % i)
        os._exit(0)  # no close, no flush: as if killed
        """
    )
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60)

    mine = Spool.claim(tmp_path, max_bytes=MiB)
    (left,) = Spool.adopt(tmp_path)
    assert left.path != mine.path
    assert values(records_of(left)) == [b"event-%d" % i for i in range(100)]
    left.close()
    mine.close()


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


def test_two_spools_on_one_folder_take_different_slots(tmp_path: Path) -> None:
    first = Spool.claim(tmp_path, max_bytes=MiB)
    second = Spool.claim(tmp_path, max_bytes=MiB)
    assert first.path != second.path
    assert {first.path.name, second.path.name} == {"slot-0", "slot-1"}
    assert (first.path / "lock").read_text().strip() == str(os.getpid())
    first.append("t", b"k", b"mine")
    # Live slots are nobody's to adopt.
    assert Spool.adopt(tmp_path) == []
    first.close()
    second.close()
    # A free, empty slot is reused rather than a new one made.
    third = Spool.claim(tmp_path, max_bytes=MiB)
    assert third.path == second.path
    third.close()


def test_an_abandoned_slot_is_picked_up_and_not_claimed(tmp_path: Path) -> None:
    gone = Spool.claim(tmp_path, max_bytes=MiB)
    gone.append("t", b"k", b"left-behind-1")
    gone.append("t", b"k", b"left-behind-2")
    gone.close()

    successor = Spool.claim(tmp_path, max_bytes=MiB)
    assert successor.path != gone.path  # a slot with events is left for adoption
    (adopted,) = Spool.adopt(tmp_path)
    assert adopted.path == gone.path
    assert adopted.pending == 2
    assert Spool.adopt(tmp_path) == []  # locked by the adopter now
    got = records_of(adopted)
    adopted.ack(got[-1].end, 2)
    adopted.close()
    assert segment_files(adopted) == []
    assert Spool.adopt(tmp_path) == []
    successor.close()


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


def test_a_foreign_file_and_a_half_created_segment_are_not_read(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB)
    spool.append("t", b"k", b"kept")
    spool.close()
    (spool.path / "000000000099.seg").write_bytes(b"LNSP")  # crashed while being created
    (spool.path / "notes.txt").write_text("not a segment")
    (adopted,) = Spool.adopt(tmp_path)
    assert values(records_of(adopted)) == [b"kept"]
    assert not (spool.path / "000000000099.seg").exists()
    adopted.close()


def test_positions_start_after_the_segment_header(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, max_bytes=MiB)
    spool.append("t", b"k", b"v")
    (record,) = records_of(spool, Position(0, 0))
    assert record.end.offset > DATA_START
    spool.close()
