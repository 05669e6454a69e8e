"""Slots of a spool folder: one per process, locked while it lives, adopted once it is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.spool_slots import (
    abandoned_slots,
    claim_slot,
    lock_slot,
    slot_numbers,
)
from tests.collector.delivery.helpers import MiB, records_of, segment_files, values


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


def test_a_held_slot_cannot_be_locked_again_and_slots_are_numbered(tmp_path: Path) -> None:
    assert slot_numbers(tmp_path / "missing") == []
    slot, fd = claim_slot(tmp_path)
    assert slot == tmp_path / "slot-0"
    assert lock_slot(slot) is None  # flock is per open file: even this process is refused
    second, second_fd = claim_slot(tmp_path)
    (tmp_path / "slot-x").mkdir()
    (tmp_path / "slot-7").write_text("a file, not a slot")
    assert slot_numbers(tmp_path) == [0, 1]
    os.close(fd)
    again = lock_slot(slot)
    assert again is not None
    os.close(again)
    os.close(second_fd)
    assert second == tmp_path / "slot-1"


def test_only_free_slots_with_segments_are_abandoned(tmp_path: Path) -> None:
    live, live_fd = claim_slot(tmp_path)
    (live / "000000000001.seg").write_bytes(b"LNSPOOL1")
    empty, empty_fd = claim_slot(tmp_path)
    left, left_fd = claim_slot(tmp_path)
    (left / "000000000001.seg").write_bytes(b"LNSPOOL1")
    os.close(empty_fd)
    os.close(left_fd)
    found = list(abandoned_slots(tmp_path))
    assert [slot for slot, _ in found] == [left]
    for _, fd in found:
        os.close(fd)
    os.close(live_fd)
    assert empty.name == "slot-1"
