"""What the spool tests share: reading a spool back in small pieces, and its segment files."""

from __future__ import annotations

from pathlib import Path

from lineage_collector.delivery.spool import Spool
from lineage_collector.delivery.spool_format import Position, SpooledRecord

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
