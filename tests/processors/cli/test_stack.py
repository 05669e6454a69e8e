"""`lineage up`, `status` and `down` on a configured Kafka: the worker gets a port of its own,
is never mistaken for another program, and every command finds it where `up` recorded it."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

from lineage_processors.cli.stack import store_place
from lineage_processors.settings import WorkerSettings
from tests.conftest import child_env
from tests.processors.cli.conftest import lineage_in
from tests.processors.local.impostor import impostor

DEFAULT_PORT = WorkerSettings().worker_port


def env_without_port(settings: WorkerSettings, **extra: str) -> dict[str, str]:
    """The settings' environment as a user has it: LINEAGE_WORKER_PORT not set."""
    env = child_env(settings)
    del env["LINEAGE_WORKER_PORT"]
    return {**env, **extra}


@contextlib.contextmanager
def default_port_taken() -> Iterator[None]:
    """Another program on the worker's default port, if it is free to take (else something
    holds it already, which is what this is for)."""
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(OSError):
            stack.enter_context(impostor(DEFAULT_PORT))
        yield


def test_up_gives_the_worker_its_own_port_and_status_shows_the_real_addresses(
    settings: WorkerSettings, tmp_path: Path
) -> None:
    env = env_without_port(settings)
    try:
        with default_port_taken():
            up = lineage_in(tmp_path, "up", env=env, timeout=400)
            assert up.returncode == 0, up.stdout + up.stderr
            port = json.loads((settings.state_dir / "worker" / "ports.json").read_text())["port"]
            url = f"http://127.0.0.1:{port}"
            assert port != DEFAULT_PORT
            assert f"worker: running at {url}, pid " in up.stdout
            assert f"queries at {url}/sql" in up.stdout
            assert f"state: {settings.state_dir.resolve()}" in up.stdout

            status = lineage_in(tmp_path, "status", env=env)
            assert status.returncode == 0, status.stdout + status.stderr
            lines = status.stdout.splitlines()
            assert lines[0] == f"state: {settings.state_dir.resolve()}"
            assert lines[1] == f"kafka: external cluster at {settings.kafka_bootstrap}"
            assert re.fullmatch(
                rf"worker: running, pid \d+, at {url}, queries at {url}/sql \(log .*worker.log\)",
                lines[2],
            ), lines
            assert lines[3] == f"store: embedded, in {settings.state_dir.resolve() / 'chdb'}"

            # Questions go through the worker, found where it recorded its address.
            sql = lineage_in(tmp_path, "sql", "SELECT 41 + 1 AS answer", env=env)
            assert sql.returncode == 0 and sql.stdout.split()[-1] == "42", sql.stderr
    finally:
        down = lineage_in(tmp_path, "down", env=env, timeout=120)
    assert down.returncode == 0 and "worker: stopped" in down.stdout, down.stdout + down.stderr
    after = lineage_in(tmp_path, "status", env=env)
    assert after.returncode == 3
    assert "worker: not running" in after.stdout


def test_up_on_a_named_port_another_program_holds_says_so_and_runs_nothing(
    settings: WorkerSettings, tmp_path: Path
) -> None:
    with impostor() as port:
        env = env_without_port(settings, LINEAGE_WORKER_PORT=str(port))
        up = lineage_in(tmp_path, "up", env=env, timeout=400)
        status = lineage_in(tmp_path, "status", env=env)
    assert up.returncode == 1, up.stdout + up.stderr
    assert "worker: running" not in up.stdout
    assert f"the worker at http://127.0.0.1:{port} exited with code 1 while starting" in (up.stderr)
    assert f"port {port} on 127.0.0.1 is in use" in up.stderr  # the worker's own words
    assert "Traceback" not in up.stderr
    assert status.returncode == 3 and "worker: not running" in status.stdout


def test_the_store_is_described_without_its_password(tmp_path: Path) -> None:
    embedded = WorkerSettings(state_dir=tmp_path)
    assert store_place(embedded) == (
        f"none yet (`lineage up` creates it in {(tmp_path / 'chdb').resolve()})"
    )
    server = WorkerSettings(clickhouse_url="http://ops:s3cret@db.example:8123/lineage")
    assert store_place(server) == "ClickHouse server at http://ops:***@db.example:8123/lineage"
