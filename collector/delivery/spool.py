"""The producer's disk spool: events wait here, in order, while Kafka cannot take them.

A :class:`Spool` is one slot of a spool folder, locked by this process
(:mod:`lineage_collector.delivery.spool_slots`): :meth:`Spool.claim` takes a slot for a
producer, :meth:`Spool.adopt` the slots that producers which ended left events in. Records go
to segment files (:mod:`lineage_collector.delivery.spool_format`). Appends are single
``write`` calls, so a record that :meth:`Spool.append` returned from survives a crash of the
process (it is in the page cache); :meth:`Spool.sync` (the producer calls it about once a
second) makes it survive a crash of the machine too. A segment is closed ("sealed") once it
passes ``segment_bytes`` and deleted as soon as every record in it has been acknowledged by
Kafka (:meth:`Spool.ack`).

Reserved segments. :meth:`Spool.reserve_segment` seals the current tail and sets aside the
next sequence number: records appended into it replay before everything appended to the spool
afterwards, and the reader does not move past it until it is sealed. The producer uses it for
events librdkafka already held when spooling began and that fail later.

Crash safety. ``checkpoint`` holds the position up to which Kafka acknowledged everything; it
is written atomically (temporary file and rename) about once a second. On opening a slot,
every segment is read through and cut after its last intact record. Events acknowledged after
the last checkpoint are sent again after a crash: a duplicate, which consumers drop by
``event_id``; without a crash the spool hands out no record twice.

Size. ``max_bytes`` bounds one slot's segments: past it, :meth:`Spool.append` raises
:class:`~lineage_collector.errors.SpoolFullError`, except with ``force=True``, which the producer
uses for events it had already accepted and must not lose.

Thread safety: appends may come from any thread; :meth:`read` and :meth:`ack` are meant for
one consumer thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from lineage_collector.delivery.spool_format import (
    DATA_START,
    Position,
    SpooledRecord,
    broken,
    create_segment,
    encode_record,
    parse_records,
    read_checkpoint,
    read_chunk,
    scan_segment,
    segment_name,
    segment_numbers,
    sync_closed,
    write_checkpoint,
)
from lineage_collector.delivery.spool_slots import abandoned_slots, claim_slot
from lineage_collector.errors import SpoolFullError
from lineage_collector.log_hygiene import sdk_logger

log = sdk_logger(__name__)

SEGMENT_BYTES = 16 << 20


class _Segment:
    __slots__ = ("fd", "path", "sealed", "seq", "size")

    def __init__(self, seq: int, path: Path, size: int, fd: int | None) -> None:
        self.seq = seq
        self.path = path
        self.size = size  # bytes written completely; readers never look past it
        self.fd = fd
        self.sealed = fd is None


class Spool:
    """One slot of a spool folder, locked by this process. Build it with :meth:`claim`."""

    def __init__(
        self, slot: Path, lock_fd: int, max_bytes: int, segment_bytes: int = SEGMENT_BYTES
    ) -> None:
        self.path = slot
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock_fd: int | None = lock_fd
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._tail: _Segment | None = None
        self._bytes = 0
        self._pending = 0
        self._next_seq = 1
        self._checkpoint = Position(1, DATA_START)
        self._checkpoint_saved: Position | None = None
        self._unsynced = False
        self._unsynced_paths: list[Path] = []
        self._recover()

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def claim(cls, root: Path, max_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> Spool:
        """Lock a slot of ``root`` for this process: the first free empty one, else a new one.

        Free slots that still hold events are left for :meth:`adopt`.
        """
        slot, fd = claim_slot(root)
        return cls._open(slot, fd, max_bytes, segment_bytes)

    @classmethod
    def adopt(cls, root: Path, segment_bytes: int = SEGMENT_BYTES) -> list[Spool]:
        """Lock every free slot of ``root`` that still holds unacknowledged events.

        The slots stay locked until :meth:`close`; nothing may be appended to them.
        """
        found = []
        for slot, fd in abandoned_slots(root):
            try:
                spool = cls._open(slot, fd, 0, segment_bytes)
            except OSError as exc:
                log.error("Cannot read the abandoned spool slot %s: %s", slot, exc)
                continue
            if spool.pending:
                found.append(spool)
            else:
                spool.close()
        return found

    @classmethod
    def _open(cls, slot: Path, fd: int, max_bytes: int, segment_bytes: int) -> Spool:
        try:
            return cls(slot, fd, max_bytes, segment_bytes)
        except BaseException:
            os.close(fd)  # and with it the slot's lock
            raise

    def _recover(self) -> None:
        """Load the checkpoint, drop acknowledged segments, cut torn tails, count records."""
        checkpoint = read_checkpoint(self.path)
        seqs = segment_numbers(self.path)
        # New segments must sort after the checkpoint, or they would count as acknowledged.
        last_seq = max([checkpoint.segment, *seqs])
        for seq in seqs:
            path = self.path / segment_name(seq)
            if seq < checkpoint.segment:
                path.unlink(missing_ok=True)  # acknowledged; its deletion was interrupted
                continue
            count_from = checkpoint.offset if seq == checkpoint.segment else 0
            size, records = scan_segment(path, count_from)
            if size < DATA_START:
                path.unlink(missing_ok=True)  # torn while being created
                continue
            self._segments.append(_Segment(seq, path, size, None))
            self._bytes += size
            self._pending += records
        self._next_seq = last_seq + 1
        if self._segments and self._segments[0].seq > checkpoint.segment:
            checkpoint = Position(self._segments[0].seq, DATA_START)
        elif self._segments and self._segments[0].seq == checkpoint.segment:
            first = self._segments[0]
            checkpoint = Position(first.seq, min(max(checkpoint.offset, DATA_START), first.size))
        self._checkpoint = checkpoint
        self._drop_acknowledged()

    # -- writing ---------------------------------------------------------------------------

    def append(
        self, topic: str, key: bytes, value: bytes, *, into: int | None = None, force: bool = False
    ) -> None:
        """Append one record; ``into`` names an unsealed reserved segment to append it to.

        Raises :class:`SpoolFullError` past ``max_bytes`` unless ``force``, and ``OSError``
        if the disk refuses the write (nothing partial is left behind then).
        """
        record = encode_record(topic, key, value)
        with self._lock:
            if not force and self._bytes + len(record) > self.max_bytes:
                raise SpoolFullError(
                    f"The spool {self.path} is full: {self._pending} events "
                    f"({self._bytes} bytes) wait there for Kafka, and LINEAGE_SPOOL_MAX_BYTES "
                    f"is {self.max_bytes}. Bring Kafka back (check LINEAGE_KAFKA_BOOTSTRAP or "
                    "`lineage status`) or raise LINEAGE_SPOOL_MAX_BYTES."
                )
            segment = self._writable(into, len(record))
            assert segment.fd is not None
            try:
                written = os.write(segment.fd, record)
                while written < len(record):
                    written += os.write(segment.fd, record[written:])
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(segment.fd, segment.size)
                raise
            segment.size += len(record)
            self._bytes += len(record)
            self._pending += 1
            self._unsynced = True

    def _writable(self, into: int | None, length: int) -> _Segment:
        if into is not None:
            for segment in self._segments:
                if segment.seq == into and not segment.sealed:
                    return segment
        tail = self._tail
        if tail is not None and tail.size > DATA_START and tail.size + length > self.segment_bytes:
            self._seal(tail)
            tail = None
        if tail is None:
            tail = self._tail = self._new_segment()
        return tail

    def _new_segment(self) -> _Segment:
        seq = self._next_seq
        path = self.path / segment_name(seq)
        fd = create_segment(path)
        self._next_seq += 1
        segment = _Segment(seq, path, DATA_START, fd)
        self._segments.append(segment)
        self._bytes += DATA_START
        self._unsynced = True
        return segment

    def _seal(self, segment: _Segment) -> None:
        if segment.fd is not None:
            # Closed without fsync: sealing can happen inside an append, which must stay
            # quick; sync() flushes sealed segments by path later.
            os.close(segment.fd)
            segment.fd = None
            self._unsynced_paths.append(segment.path)
        segment.sealed = True
        if segment is self._tail:
            self._tail = None

    def reserve_segment(self) -> int:
        """Seal the tail and open a segment that replays before anything appended later."""
        with self._lock:
            if self._tail is not None:
                self._seal(self._tail)
            return self._new_segment().seq

    def seal(self, seq: int) -> None:
        """Close the reserved segment ``seq``: the reader may now move past it."""
        with self._lock:
            for segment in self._segments:
                if segment.seq == seq and segment is not self._tail:
                    self._seal(segment)
            self._drop_acknowledged()

    def sync(self) -> None:
        """fsync what was appended since the last call, and the folder's new entries."""
        with self._lock:
            if not self._unsynced and not self._unsynced_paths:
                return
            fds = [s.fd for s in self._segments if s.fd is not None]
            paths, self._unsynced_paths = self._unsynced_paths, []
            self._unsynced = False
        for fd in fds:
            with contextlib.suppress(OSError):
                os.fsync(fd)
        sync_closed(paths, self.path)

    # -- reading and acknowledging ---------------------------------------------------------

    @property
    def checkpoint(self) -> Position:
        """Everything before this position has been acknowledged."""
        with self._lock:
            return self._checkpoint

    @property
    def pending(self) -> int:
        """Records not acknowledged yet."""
        with self._lock:
            return self._pending

    @property
    def bytes(self) -> int:
        """Size of the slot's segments on disk."""
        with self._lock:
            return self._bytes

    def read(
        self, start: Position, max_records: int = 10_000, max_bytes: int = 1 << 20
    ) -> list[SpooledRecord]:
        """Records from ``start`` on, in spool order, stopping at an unsealed reserved segment.

        Returns at least one record if there is one, however large.
        """
        with self._lock:
            segments = [
                (s.seq, s.path, s.size, s.sealed) for s in self._segments if s.seq >= start.segment
            ]
        out: list[SpooledRecord] = []
        budget = max_bytes
        for seq, path, size, sealed in segments:
            at = max(start.offset, DATA_START) if seq == start.segment else DATA_START
            if at < size:
                try:
                    data = read_chunk(path, at, size, budget, whole_first=not out)
                except FileNotFoundError:
                    continue
                offset = parse_records(data, seq, at, out, max_records)
                budget -= offset
                if at + offset < size:
                    if len(out) < max_records and broken(data, offset, size - at):
                        self._corrupt(seq, at + offset)
                    return out
            if not sealed or len(out) >= max_records or budget <= 0:
                return out
        return out

    def _corrupt(self, seq: int, at: int) -> None:
        """A record we wrote does not read back: drop the rest of that segment, loudly."""
        with self._lock:
            for segment in self._segments:
                if segment.seq == seq and segment.size > at:
                    log.error(
                        "spool segment %s is corrupt at byte %d; the %d bytes after it are lost",
                        segment.path,
                        at,
                        segment.size - at,
                    )
                    if segment is self._tail:
                        self._seal(segment)
                    self._bytes -= segment.size - at
                    segment.size = at
                    segment.sealed = True
            self._drop_acknowledged()

    def ack(self, upto: Position, count: int) -> None:
        """Kafka acknowledged the ``count`` records before ``upto`` (and all earlier ones)."""
        with self._lock:
            if upto > self._checkpoint:
                self._checkpoint = upto
            self._pending = max(0, self._pending - count)
            self._drop_acknowledged()

    def caught_up(self, position: Position) -> bool:
        """True if no record lies at or after ``position`` and none can arrive before it."""
        with self._lock:
            for segment in self._segments:
                if segment.seq < position.segment:
                    continue
                if not segment.sealed and segment is not self._tail:
                    return False  # an open reserved segment may still receive records
                limit = position.offset if segment.seq == position.segment else DATA_START
                if segment.size > max(limit, DATA_START):
                    return False
            return True

    def _drop_acknowledged(self) -> None:
        """Delete sealed segments whose records are all acknowledged (lock held)."""
        while self._segments:
            first = self._segments[0]
            if first.seq > self._checkpoint.segment:
                self._checkpoint = Position(first.seq, DATA_START)
            done = first.seq < self._checkpoint.segment or self._checkpoint.offset >= first.size
            if not (first.sealed and done):
                break
            first.path.unlink(missing_ok=True)
            self._segments.pop(0)
            self._bytes -= first.size
            if first.seq == self._checkpoint.segment:
                following = self._segments[0].seq if self._segments else self._next_seq
                self._checkpoint = Position(following, DATA_START)
        if not self._segments or (
            len(self._segments) == 1 and self._checkpoint.offset >= self._segments[0].size
        ):
            self._pending = 0

    def save_checkpoint(self) -> None:
        """Write the checkpoint if it moved (atomically: a reader sees the old or the new)."""
        with self._lock:
            checkpoint = self._checkpoint
        if checkpoint == self._checkpoint_saved:
            return
        write_checkpoint(self.path, checkpoint)
        self._checkpoint_saved = checkpoint

    def close(self) -> None:
        """Seal everything, drop what is acknowledged, save the checkpoint, release the slot.

        Unacknowledged records stay on disk for the next producer that opens this folder.
        """
        with self._lock:
            if self._lock_fd is None:
                return
            for segment in self._segments:
                self._seal(segment)
            self._drop_acknowledged()
        with contextlib.suppress(OSError):
            self.save_checkpoint()
        self.sync()
        with self._lock:
            fd, self._lock_fd = self._lock_fd, None
        os.close(fd)  # releases the flock

    def __repr__(self) -> str:
        return f"Spool({str(self.path)!r}, pending={self.pending}, bytes={self.bytes})"
