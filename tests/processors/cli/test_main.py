"""Every expected failure prints one clear line and a meaningful exit code, never a traceback."""

from __future__ import annotations

import importlib.metadata
import socket
from pathlib import Path

from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, free_port, run_cli
from tests.processors.cli.conftest import bare_env, empty_store, lineage_in


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


def test_unknown_store_scheme(tmp_path: Path) -> None:
    s = WorkerSettings(state_dir=tmp_path, clickhouse_url="ftp://store.example/lineage")
    out = run_cli(s, "sql", "SELECT 1")
    assert out.returncode == 1
    assert "LINEAGE_CLICKHOUSE_URL 'ftp://store.example/lineage' has unknown scheme 'ftp'" in (
        out.stderr
    )
    assert "chdb:///path/to/folder or http(s)://" in out.stderr
    no_traceback(out.stderr)


def test_unreachable_server_hides_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    s = WorkerSettings(state_dir=tmp_path, clickhouse_url=f"http://ops:s3cret@127.0.0.1:{port}/lin")
    out = run_cli(s, "sql", "SELECT 1")
    assert out.returncode == 1
    assert f"ClickHouse at http://ops:***@127.0.0.1:{port}/lin is unreachable" in out.stderr
    assert "s3cret" not in out.stderr + out.stdout
    no_traceback(out.stderr)


def test_second_worker_on_the_same_chdb_is_refused(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    second = run_cli(settings.replace(worker_port=free_port()), "worker", timeout=60)
    assert second.returncode == 1
    assert worker.proc is not None
    assert (
        f"is held by another process (pid {worker.proc.pid}, lineage worker and answers "
        f"queries at {worker.url})"
    ) in second.stderr
    no_traceback(second.stderr)


def test_worker_port_in_use(settings: WorkerSettings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", settings.worker_port))
        sock.listen()
        out = run_cli(settings, "worker", timeout=60)
    assert out.returncode == 1
    assert f"port {settings.worker_port} on 127.0.0.1 is in use" in out.stderr
    no_traceback(out.stderr)


def test_queries_are_read_only(settings: WorkerSettings, worker: WorkerProcess) -> None:
    out = run_cli(settings, "sql", "INSERT INTO nodes (node_id) VALUES ('model:x@1')")
    assert out.returncode == 2
    assert "queries are read-only" in out.stderr
    assert worker.query("SELECT count() FROM nodes").rows == [[0]]


def test_bad_and_unknown_nodes(tmp_path: Path) -> None:
    empty_store(tmp_path)  # a question never creates a store (see test_questions.py)
    s = WorkerSettings(state_dir=tmp_path)
    bad = run_cli(s, "upstream", "intent-classifier@3.4.2")
    assert bad.returncode == 2
    assert "is not a node id: expected kind:name[@version]" in bad.stderr
    missing = run_cli(s, "upstream", "model:nothing@1")
    assert missing.returncode == 4
    assert "model:nothing@1 not found; the store holds no nodes yet" in missing.stderr
    depth = run_cli(s, "upstream", "model:nothing@1", "--depth", "0")
    assert depth.returncode == 2
    assert "--depth must be between 1 and 100, got 0" in depth.stderr
    no_traceback(bad.stderr + missing.stderr + depth.stderr)


def test_no_kafka_configured(tmp_path: Path) -> None:
    out = run_cli(WorkerSettings(state_dir=tmp_path), "demo")
    assert out.returncode == 2
    assert "No Kafka to talk to: start the local broker with `lineage up`" in out.stderr
    no_traceback(out.stderr)


def test_bad_setting_names_the_variable(tmp_path: Path) -> None:
    out = run_cli(
        WorkerSettings(state_dir=tmp_path), "status", extra_env={"LINEAGE_TOPIC_PARTITIONS": "many"}
    )
    assert out.returncode == 2
    assert "LINEAGE_TOPIC_PARTITIONS='many' is not valid" in out.stderr
    no_traceback(out.stderr)


def test_version_is_the_installed_one(tmp_path: Path) -> None:
    out = lineage_in(tmp_path, "--version", env=bare_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"lineage {importlib.metadata.version('lineage-collector')}\n"


def test_questions_find_the_nearest_state_folder_above(tmp_path: Path) -> None:
    project = tmp_path / "project"
    deeper = project / "notebooks" / "2026"
    deeper.mkdir(parents=True)
    empty_store(project / ".lineage")
    env = bare_env(tmp_path)
    for folder in (project, deeper):
        out = lineage_in(folder, "sql", "SELECT count() AS nodes FROM nodes", env=env)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["nodes", "-----", "0"]
    status = lineage_in(deeper, "status", env=env)
    assert f"state: {project / '.lineage'}" in status.stdout.splitlines()
    assert f"store: embedded, in {project / '.lineage' / 'chdb'}" in status.stdout
    # LINEAGE_STATE_DIR wins over the folder above.
    elsewhere = lineage_in(
        deeper, "status", env={**env, "LINEAGE_STATE_DIR": str(tmp_path / "other")}
    )
    assert f"state: {tmp_path / 'other'}" in elsewhere.stdout.splitlines()
    assert not (tmp_path / "other").exists()
