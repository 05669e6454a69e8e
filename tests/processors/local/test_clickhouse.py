"""The local ClickHouse server: started, found, stopped, its data kept across restarts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lineage_processors.errors import LocalStackError
from lineage_processors.local.clickhouse import LocalClickHouse
from lineage_processors.store.connect import open_store


def test_a_server_serves_sql_keeps_its_data_across_a_restart_and_stops(tmp_path: Path) -> None:
    server = LocalClickHouse(tmp_path / "ch")
    url = server.up("kept")
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/kept")
        assert server.up("kept") == url, "a running server is found, not started twice"
        store = open_store(url)
        store.command("CREATE TABLE t (k UInt32) ENGINE = MergeTree ORDER BY k")
        store.command("INSERT INTO t SELECT number FROM numbers(1000)")
        store.close()
        pid = server.pid()
        assert pid is not None
        assert server.down() is True
        assert server.pid() is None and server.url() is None
        assert (
            not Path(f"/proc/{pid}").exists()
            or b"local_clickhouse" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        )
        again = server.up("kept")
        store = open_store(again)
        assert store.query("SELECT count(), sum(k) FROM t").result_rows == [(1000, 499500)]
        store.close()
    finally:
        server.down()
    assert server.down() is False, "nothing left to stop"


def test_a_pid_file_naming_another_process_is_not_taken_for_the_server(tmp_path: Path) -> None:
    server = LocalClickHouse(tmp_path / "ch")
    server.folder.mkdir(parents=True)
    (server.folder / "clickhouse.pid").write_text(str(os.getpid()))
    (server.folder / "http_port").write_text("1")
    assert server.pid() is None
    assert server.url() is None
    assert server.down() is False


def test_a_server_that_cannot_start_says_so_with_its_log(tmp_path: Path) -> None:
    server = LocalClickHouse(tmp_path / "ch")
    server.folder.mkdir(parents=True)
    (server.folder / "data").write_text("a file where the data folder should be")
    with pytest.raises(LocalStackError, match="exited with code 1 while starting") as caught:
        server.up(timeout=60)
    assert "the ClickHouse engine stopped with an error" in str(caught.value)
    assert server.pid() is None
