"""The spool's file format: segment files, the records in them, and positions between records.

A segment file ``<seq>.seg`` (12-digit sequence number; segments replay in that order) starts
with the 8-byte magic ``LNSPOOL1``; each record is

    u32 length | u32 CRC-32 of the payload | payload
    payload = u16 topic length | u32 key length | topic (UTF-8) | key | value

little-endian. Beside the segments, the file ``checkpoint`` holds the position up to which
Kafka acknowledged everything (``<seq> <offset>``), replaced atomically when it moves.

A record is checked against its length and CRC when read: a torn or corrupt record (after a
crash only the tail of the last segment can be torn) ends what can be read of its segment.
This module reads and writes files; :mod:`lineage_collector.delivery.spool` decides which
segments exist and what is acknowledged.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

from lineage_collector.log_hygiene import sdk_logger

# The spool's logger: format and folder are one component to whoever configures logging.
log = sdk_logger("lineage_collector.delivery.spool")

MAGIC = b"LNSPOOL1"
DATA_START = len(MAGIC)
SUFFIX = ".seg"
_HEAD = struct.Struct("<II")  # payload length, CRC-32 of the payload
_FIELDS = struct.Struct("<HI")  # topic length, key length
# Kafka's own limits are far below this; a larger length field is a torn or corrupt header.
_MAX_PAYLOAD = 1 << 30


class Position(NamedTuple):
    """A place in a spool: segment sequence number and byte offset in that segment."""

    segment: int
    offset: int


class SpooledRecord(NamedTuple):
    """One record read back from a spool; ``end`` is the position just after it."""

    topic: str
    key: bytes
    value: bytes
    end: Position


def segment_name(seq: int) -> str:
    """The file name of segment ``seq``."""
    return f"{seq:012d}{SUFFIX}"


def segment_numbers(folder: Path) -> list[int]:
    """The sequence numbers of the segment files in ``folder``, in replay order."""
    seqs = []
    for path in folder.glob("*" + SUFFIX):
        stem = path.name.removesuffix(SUFFIX)
        if stem.isdigit():
            seqs.append(int(stem))
    return sorted(seqs)


def create_segment(path: Path) -> int:
    """Create the segment file ``path`` with its header; returns it open for appending."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, MAGIC)
    except OSError:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return fd


def sync_closed(paths: list[Path], folder: Path) -> None:
    """fsync the closed files ``paths`` and the entries of ``folder``, as far as possible."""
    for path in paths:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_checkpoint(folder: Path) -> Position:
    """The checkpoint saved in ``folder``; the start of the first segment if there is none."""
    try:
        seq, offset = (folder / "checkpoint").read_text().split()
        return Position(int(seq), int(offset))
    except (OSError, ValueError):
        return Position(1, DATA_START)


def write_checkpoint(folder: Path, checkpoint: Position) -> None:
    """Save ``checkpoint`` in ``folder`` atomically: a reader sees the old or the new one."""
    tmp = folder / ".checkpoint.tmp"
    tmp.write_text(f"{checkpoint.segment} {checkpoint.offset}\n")
    tmp.replace(folder / "checkpoint")


def encode_record(topic: str, key: bytes, value: bytes) -> bytes:
    """The on-disk form of one record."""
    raw_topic = topic.encode()
    payload = b"".join((_FIELDS.pack(len(raw_topic), len(key)), raw_topic, key, value))
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def parse_records(data: bytes, seq: int, base: int, out: list[SpooledRecord], limit: int) -> int:
    """Append the intact records of ``data`` (read from ``base`` of segment ``seq``) to
    ``out``, up to ``limit`` in all; returns the bytes consumed.

    The replay's hot loop, hence written out: no payload copies, topics decoded once.
    """
    view = memoryview(data)
    head, fields, crc32 = _HEAD.unpack_from, _FIELDS.unpack_from, zlib.crc32
    new = tuple.__new__  # what the NamedTuples' constructors call, without their overhead
    topics: dict[bytes, str] = {}
    at, size = 0, len(data)
    while len(out) < limit and at + _HEAD.size <= size:
        length, crc = head(data, at)
        start = at + _HEAD.size
        end = start + length
        if length < _FIELDS.size or end > size or crc32(view[start:end]) != crc:
            break
        topic_len, key_len = fields(data, start)
        key_at = start + _FIELDS.size + topic_len
        value_at = key_at + key_len
        if value_at > end:
            break
        raw_topic = data[start + _FIELDS.size : key_at]
        topic = topics.get(raw_topic)
        if topic is None:
            topic = topics[raw_topic] = raw_topic.decode(errors="replace")
        end_at = new(Position, (seq, base + end))
        out.append(new(SpooledRecord, (topic, data[key_at:value_at], data[value_at:end], end_at)))
        at = end
    return at


def decode_record(buf: bytes, at: int) -> tuple[str, bytes, bytes, int] | None:
    """The record starting at ``buf[at]`` and its length, or None if torn or corrupt."""
    if at + _HEAD.size > len(buf):
        return None
    length, crc = _HEAD.unpack_from(buf, at)
    start = at + _HEAD.size
    end = start + length
    if length < _FIELDS.size or length > _MAX_PAYLOAD or end > len(buf):
        return None
    payload = buf[start:end]
    if zlib.crc32(payload) != crc:
        return None
    topic_len, key_len = _FIELDS.unpack_from(payload)
    key_at = _FIELDS.size + topic_len
    if key_at + key_len > length:
        return None
    topic = payload[_FIELDS.size : key_at].decode(errors="replace")
    return topic, payload[key_at : key_at + key_len], payload[key_at + key_len :], end - at


def scan_segment(path: Path, count_from: int = 0) -> tuple[int, int]:
    """Validate the segment ``path`` and truncate it after its last intact record.

    Returns its intact size (0 if it is no segment at all) and how many records start at or
    after byte ``count_from``.
    """
    data = path.read_bytes()
    if data[:DATA_START] != MAGIC:
        if len(data) >= DATA_START:
            log.error("%s is not a spool segment (bad header); it is ignored", path)
        return 0, 0
    at, records = DATA_START, 0
    while at < len(data):
        decoded = decode_record(data, at)
        if decoded is None:
            break
        if at >= count_from:
            records += 1
        at += decoded[3]
    if at < len(data):
        log.warning(
            "spool segment %s ends in %d bytes of a torn or corrupt record (left by a crash); "
            "they are cut off",
            path,
            len(data) - at,
        )
        os.truncate(path, at)
    return at, records


def read_chunk(path: Path, at: int, size: int, budget: int, *, whole_first: bool) -> bytes:
    """Up to ``budget`` bytes of ``path`` from ``at``; with ``whole_first``, at least the
    whole first record however large it is."""
    with open(path, "rb", buffering=0) as segment:
        segment.seek(at)
        data = segment.read(min(size - at, max(budget, _HEAD.size)))
        if whole_first and len(data) >= _HEAD.size:
            need = _HEAD.size + int(_HEAD.unpack_from(data)[0])
            if len(data) < need <= size - at:
                data += segment.read(need - len(data))
    return data


def broken(data: bytes, offset: int, available: int) -> bool:
    """Whether parsing ``data`` stopped at ``offset`` on a bad record rather than at the end
    of what was read; ``available`` is how many committed bytes ``data`` could have held."""
    if len(data) - offset < _HEAD.size:
        return offset + _HEAD.size > available  # the segment ends inside a header
    need = _HEAD.size + int(_HEAD.unpack_from(data, offset)[0])
    # Whole record in hand yet undecodable, or one that claims to run past the committed end.
    return offset + need <= len(data) or offset + need > available
