"""Slots of a spool folder: one per producer process, owned by whoever holds its lock.

A spool folder holds one *slot* per producer process, ``slot-N/``. A process owns its slot by
holding an ``flock`` on ``slot-N/lock`` (the lock file also names the holder's pid), so several
processes can share one spool folder, and a slot whose lock is free belongs to nobody: its
process ended. A new producer claims the first free slot that holds no data (or makes a new
one); slots that are free and still hold data are adopted, so that events a dead predecessor
left behind are replayed by the next producer to start. Slot folders are never removed, so a
slot cannot vanish under a process about to lock it.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from lineage_collector.delivery.spool_format import SUFFIX

_SLOT_PREFIX = "slot-"


def lock_slot(slot: Path) -> int | None:
    """The open, exclusively flocked lock file of ``slot``, or None if another holds it."""
    slot.mkdir(parents=True, exist_ok=True)
    fd = os.open(slot / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # The pid is for people looking at the folder; the flock is what counts.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def slot_numbers(root: Path) -> list[int]:
    """The numbers of the slots in ``root``, in order."""
    numbers = []
    with contextlib.suppress(FileNotFoundError):
        for entry in root.iterdir():
            suffix = entry.name.removeprefix(_SLOT_PREFIX)
            if entry.name.startswith(_SLOT_PREFIX) and suffix.isdigit() and entry.is_dir():
                numbers.append(int(suffix))
    return sorted(numbers)


def has_segments(slot: Path) -> bool:
    """Whether ``slot`` holds segment files (possibly all acknowledged)."""
    return any(slot.glob("*" + SUFFIX))


def claim_slot(root: Path) -> tuple[Path, int]:
    """Lock the first free slot of ``root`` that holds no data, else a new one: the slot and
    its lock file's descriptor (closing it releases the slot)."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = slot_numbers(root)
    fresh = itertools.count((numbers[-1] + 1) if numbers else 0)
    for number in itertools.chain(numbers, fresh):
        slot = root / f"{_SLOT_PREFIX}{number}"
        fd = lock_slot(slot)
        if fd is None:
            continue
        if number in numbers and has_segments(slot):
            os.close(fd)  # left for adoption
            continue
        return slot, fd
    raise AssertionError("unreachable")  # pragma: no cover - the count never ends


def abandoned_slots(root: Path) -> Iterator[tuple[Path, int]]:
    """Lock, one after the other, the free slots of ``root`` that still hold segments: each
    slot with its lock file's descriptor."""
    for number in slot_numbers(root):
        slot = root / f"{_SLOT_PREFIX}{number}"
        if not has_segments(slot):
            continue
        fd = lock_slot(slot)
        if fd is not None:
            yield slot, fd
