"""The lock that keeps an embedded store to one process, and what it tells of its holder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lineage_processors.errors import StoreBusyError, StoreError
from lineage_processors.store.owner import (
    StoreOwner,
    chdb_path,
    read_owner,
    take_lock,
    write_owner,
)


def test_chdb_path_names_the_data_folder_of_an_embedded_store_only(tmp_path: Path) -> None:
    assert chdb_path(f"chdb://{tmp_path / 'data'}") == tmp_path / "data"
    assert chdb_path("http://localhost:8123/lineage") is None
    assert read_owner("http://localhost:8123/lineage") is None
    with pytest.raises(StoreError, match="names no folder"):
        chdb_path("chdb://")


def test_the_holder_is_named_to_whoever_else_asks_for_the_store(tmp_path: Path) -> None:
    data = tmp_path / "chdb"
    url = f"chdb://{data}"
    assert read_owner(url) is None
    lock = take_lock(data, url, "lineage worker")
    try:
        assert read_owner(url) == StoreOwner(os.getpid(), "lineage worker")
        write_owner(lock, "lineage worker", "http://127.0.0.1:8765")
        assert read_owner(url) == StoreOwner(os.getpid(), "lineage worker", "http://127.0.0.1:8765")
        with pytest.raises(StoreBusyError) as caught:
            take_lock(data, url, "lineage query")
        assert (
            f"held by another process (pid {os.getpid()}, lineage worker and answers queries "
            "at http://127.0.0.1:8765)"
        ) in str(caught.value)
    finally:
        lock.close()
    assert read_owner(url) is None


def test_a_lock_file_written_by_something_else_names_an_unknown_process(tmp_path: Path) -> None:
    data = tmp_path / "chdb"
    url = f"chdb://{data}"
    lock = take_lock(data, url, "lineage worker")
    try:
        lock.seek(0)
        lock.truncate()
        lock.write("not json")
        lock.flush()
        assert read_owner(url) == StoreOwner(0, "unknown process")
    finally:
        lock.close()
