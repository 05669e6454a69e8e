"""The spool's files: records as written and read back, torn and corrupt records, checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.spool_format import (
    DATA_START,
    Position,
    SpooledRecord,
    broken,
    create_segment,
    decode_record,
    encode_record,
    parse_records,
    read_checkpoint,
    scan_segment,
    segment_name,
    segment_numbers,
    write_checkpoint,
)
from tests.collector.delivery.helpers import MiB, records_of, segment_files, values


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


def test_records_read_back_as_written_with_their_end_positions() -> None:
    sent = [("lineage.events", b"k1", b"v1"), ("ünïcode", b"", b""), ("t", b"\x00\xff", b"x" * 300)]
    data = b"".join(encode_record(*record) for record in sent)
    out: list[SpooledRecord] = []
    assert parse_records(data, 7, DATA_START, out, limit=100) == len(data)
    assert [(r.topic, r.key, r.value) for r in out] == sent
    assert out[-1].end == Position(7, DATA_START + len(data))
    first = len(encode_record(*sent[0]))
    assert out[0].end == Position(7, DATA_START + first)
    # The limit counts what ``out`` already holds.
    assert parse_records(data, 7, DATA_START, out, limit=4) == first
    assert len(out) == 4


def test_a_torn_or_flipped_record_does_not_decode() -> None:
    record = encode_record("t", b"k", b"value")
    assert decode_record(record, 0) == ("t", b"k", b"value", len(record))
    assert decode_record(record[:-1], 0) is None  # torn
    assert decode_record(record[:5], 0) is None  # torn inside the header
    flipped = bytearray(record)
    flipped[-1] ^= 0x01
    assert decode_record(bytes(flipped), 0) is None  # the CRC catches it
    out: list[SpooledRecord] = []
    assert parse_records(record + bytes(flipped), 1, DATA_START, out, 10) == len(record)
    assert len(out) == 1


def test_broken_tells_a_bad_record_from_the_end_of_what_was_read() -> None:
    record = encode_record("t", b"k", b"value")
    # Stopped at the end of the data, more committed bytes to come: not broken.
    assert not broken(record, len(record), len(record) + 100)
    # Stopped inside a record that is wholly in hand: broken.
    flipped = bytearray(record)
    flipped[-1] ^= 0x01
    assert broken(bytes(flipped), 0, len(record))
    # A header claiming more than the segment holds: broken.
    assert broken(record[:-1], 0, len(record) - 1)


def test_a_scan_counts_records_after_a_point_and_cuts_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / segment_name(3)
    fd = create_segment(path)
    records = [encode_record("t", b"k", b"%d" % i) for i in range(4)]
    for record in records:
        os.write(fd, record)
    os.write(fd, records[0][:6])  # a crash while writing the fifth
    os.close(fd)
    intact = DATA_START + sum(map(len, records))
    assert scan_segment(path) == (intact, 4)
    assert path.stat().st_size == intact
    assert scan_segment(path, count_from=DATA_START + len(records[0])) == (intact, 3)


def test_a_file_without_the_magic_is_no_segment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / segment_name(1)
    path.write_bytes(b"NOTSPOOL" + encode_record("t", b"k", b"v"))
    assert scan_segment(path) == (0, 0)
    assert "is not a spool segment" in caplog.text
    with pytest.raises(FileExistsError):
        create_segment(path)  # segments are never overwritten


def test_segment_files_are_numbered_in_replay_order(tmp_path: Path) -> None:
    for seq in (10, 2, 1):
        (tmp_path / segment_name(seq)).touch()
    (tmp_path / "notes.seg").touch()
    (tmp_path / "checkpoint").touch()
    assert segment_name(2) == "000000000002.seg"
    assert segment_numbers(tmp_path) == [1, 2, 10]


def test_the_checkpoint_file_round_trips_and_defaults_to_the_start(tmp_path: Path) -> None:
    assert read_checkpoint(tmp_path) == Position(1, DATA_START)
    write_checkpoint(tmp_path, Position(12, 345))
    assert read_checkpoint(tmp_path) == Position(12, 345)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]  # no temporary left
    (tmp_path / "checkpoint").write_text("garbage")
    assert read_checkpoint(tmp_path) == Position(1, DATA_START)
