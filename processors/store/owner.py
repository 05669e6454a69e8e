"""Who holds an embedded store: chDB allows one process per data folder.

The holder keeps an advisory lock on a file next to the data folder for as long as its store
is open, and writes into it who it is (and where its query endpoint listens): for the error
message another process gets, and for the CLI to find the worker to send queries to.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from lineage_processors.errors import StoreBusyError, StoreError

URL_HELP = "use chdb:///path/to/folder or http(s)://user:password@host:port/database"


@dataclass(frozen=True)
class StoreOwner:
    """Who holds an embedded store: written into its lock file by the holder."""

    pid: int
    role: str
    query_url: str = ""


def chdb_path(url: str) -> Path | None:
    """The data folder of a ``chdb://`` URL, or None for a server URL."""
    parts = urlsplit(url)
    if parts.scheme != "chdb":
        return None
    path = parts.netloc + parts.path
    if not path:
        raise StoreError(f"{url!r} names no folder: {URL_HELP}")
    return Path(path).resolve()


def _lock_path(data: Path) -> Path:
    return data.with_name(data.name + ".lock")


def read_owner(url: str) -> StoreOwner | None:
    """Who holds the embedded store at ``url`` right now, or None if nobody does (or ``url``
    names a server)."""
    data = chdb_path(url)
    if data is None:
        return None
    lock = _lock_path(data)
    if not lock.exists():
        return None
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            return _parse_owner(fh.read())
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


def _parse_owner(text: str) -> StoreOwner:
    try:
        raw = json.loads(text)
        return StoreOwner(int(raw["pid"]), str(raw["role"]), str(raw.get("query_url", "")))
    except (ValueError, KeyError, TypeError):
        return StoreOwner(0, "unknown process")


def write_owner(lock: TextIO, role: str, query_url: str = "") -> None:
    """Record this process in the lock file it holds, replacing what was there."""
    lock.seek(0)
    lock.truncate()
    json.dump({"pid": os.getpid(), "role": role, "query_url": query_url}, lock)
    lock.flush()


def take_lock(data: Path, url: str, role: str) -> TextIO:
    """Lock the embedded store in folder ``data`` for this process, recorded as ``role``; the
    lock holds while the returned file stays open. StoreBusyError names the holder."""
    data.parent.mkdir(parents=True, exist_ok=True)
    fh = open(_lock_path(data), "a+")  # noqa: SIM115 - held for the life of the Store
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        owner = _parse_owner(fh.read())
        fh.close()
        where = f" and answers queries at {owner.query_url}" if owner.query_url else ""
        raise StoreBusyError(
            f"the embedded store {url} is held by another process (pid {owner.pid}, "
            f"{owner.role}{where}). chDB allows one process per data folder: stop that "
            "process, or query through it (`lineage sql`, `lineage upstream` find a running "
            "worker by themselves), or give this process its own LINEAGE_CLICKHOUSE_URL."
        ) from None
    write_owner(fh, role)
    return fh
