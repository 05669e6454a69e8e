"""The worker of the local stack: started on a port of its own, known by its instance name,
never mistaken for another program on its port, found again through its state folder."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_processors.errors import LocalStackError
from lineage_processors.local import processes
from lineage_processors.local import worker as local_worker
from lineage_processors.local.worker import WorkerStatus, worker_env
from lineage_processors.settings import WorkerSettings
from tests.conftest import WORKER_START_S, child_env
from tests.processors.local.impostor import impostor as another_program


def test_the_worker_is_not_given_the_subject_key() -> None:
    key = "subject-key-" + "k" * 30
    env = {
        "PATH": "/usr/bin",
        **WorkerSettings(kafka_bootstrap="127.0.0.1:9092", subject_key=key).to_env(),
    }
    assert env["LINEAGE_SUBJECT_KEY"] == key
    given = worker_env(env)
    assert "LINEAGE_SUBJECT_KEY" not in given and key not in given.values()
    assert given == {k: v for k, v in env.items() if k != "LINEAGE_SUBJECT_KEY"}


@pytest.fixture
def impostor() -> Iterator[int]:
    """The port of another program that answers anything with 200."""
    with another_program() as port:
        yield port


WORKER_ARGS = ("lineage_processors.cli.main", "worker")


def kept_port(settings: WorkerSettings) -> int:
    return int(json.loads((settings.worker_state_dir / "ports.json").read_text())["port"])


def healthz(url: str) -> dict[str, str]:
    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
        return dict(json.load(response))


def test_up_picks_a_free_port_keeps_it_and_records_the_address(
    settings: WorkerSettings, impostor: int
) -> None:
    # The settings name a port that another program holds: with free_port it is not used.
    settings = settings.replace(worker_port=impostor)
    said: list[str] = []
    try:
        started = local_worker.start(
            settings, child_env(settings), WORKER_START_S, free_port=True, progress=said.append
        )
        port = kept_port(settings)
        assert port != impostor and said == []
        assert started.url == f"http://127.0.0.1:{port}"
        assert started.query_url == f"{started.url}/sql"
        assert (settings.worker_state_dir / "url").read_text().strip() == started.url
        instance = (settings.worker_state_dir / "instance").read_text().strip()
        assert re.fullmatch(r"[0-9a-f]{32}", instance) and started.instance == instance
        assert healthz(started.url) == {"status": "alive", "instance": instance}
        assert local_worker.healthy(started, settings.read_token)
        # Another program at the worker's address never passes for it.
        elsewhere = WorkerStatus(
            True, started.pid, f"http://127.0.0.1:{impostor}", Path(), instance
        )
        assert not local_worker.identifies(f"http://127.0.0.1:{impostor}", instance)
        assert not local_worker.healthy(elsewhere)

        # `up` again finds it running and starts nothing.
        assert local_worker.start(settings, child_env(settings), 60, free_port=True) == started
        assert local_worker.stop(settings) is True
        stopped = local_worker.status(settings)
        assert (stopped.running, stopped.url, stopped.query_url) == (False, None, "")
        assert not (settings.worker_state_dir / "url").exists()
        assert local_worker.stop(settings) is False

        # Its port is kept: the next start listens at the same address, under a new name.
        again = local_worker.start(settings, child_env(settings), WORKER_START_S, free_port=True)
        assert again.url == started.url and again.instance != instance
    finally:
        local_worker.stop(settings)


def test_a_kept_port_another_program_took_meanwhile_is_left_to_it(
    settings: WorkerSettings, impostor: int
) -> None:
    settings.worker_state_dir.mkdir(parents=True)
    (settings.worker_state_dir / "ports.json").write_text(json.dumps({"port": impostor}))
    said: list[str] = []
    try:
        started = local_worker.start(
            settings, child_env(settings), WORKER_START_S, free_port=True, progress=said.append
        )
        moved = kept_port(settings)
        assert moved != impostor and started.url == f"http://127.0.0.1:{moved}"
        assert said == [
            f"worker: port {impostor} is held by another process; the worker moves to port {moved}"
        ]
        assert local_worker.healthy(started, settings.read_token)
    finally:
        local_worker.stop(settings)


def test_a_named_port_another_program_holds_fails_with_the_workers_words(
    settings: WorkerSettings, impostor: int
) -> None:
    settings = settings.replace(worker_port=impostor)
    with pytest.raises(LocalStackError) as caught:
        local_worker.start(settings, child_env(settings), WORKER_START_S)
    message = str(caught.value)
    assert f"the worker at http://127.0.0.1:{impostor} exited with code 1 while starting" in (
        message
    )
    assert f"The end of its log, {settings.worker_state_dir.resolve() / 'worker.log'}:" in message
    assert f"port {impostor} on 127.0.0.1 is in use" in message
    assert not local_worker.status(settings).running
    assert not (settings.worker_state_dir / "url").exists()


def test_a_pid_file_naming_another_stacks_worker_is_not_trusted(tmp_path: Path) -> None:
    settings = WorkerSettings(state_dir=tmp_path / "state")
    folder = settings.worker_state_dir
    folder.mkdir(parents=True)
    # A process that looks like a worker: another state folder's, by its instance name.
    lookalike = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", *WORKER_ARGS],
        env={"LINEAGE_WORKER_INSTANCE": "theirs"},
    )
    try:
        # Judged by what /proc shows of it: wait until it shows its command line and name.
        environ = Path(f"/proc/{lookalike.pid}/environ")
        deadline = time.monotonic() + 30
        while not (
            b"LINEAGE_WORKER_INSTANCE=theirs" in environ.read_bytes()
            and WORKER_ARGS[0] in (processes.command_line(lookalike.pid) or [])
        ):
            assert time.monotonic() < deadline, "the lookalike process did not start"
            time.sleep(0.05)
        (folder / "worker.pid").write_text(str(lookalike.pid))
        (folder / "url").write_text("http://127.0.0.1:1\n")
        (folder / "instance").write_text("ours\n")
        assert not local_worker.status(settings).running
        assert local_worker.stop(settings) is False and lookalike.poll() is None
        assert not (folder / "worker.pid").exists() and not (folder / "url").exists()
        (folder / "worker.pid").write_text(str(lookalike.pid))
        (folder / "url").write_text("http://127.0.0.1:1\n")
        (folder / "instance").write_text("theirs\n")
        found = local_worker.status(settings)
        assert (found.running, found.pid, found.url) == (True, lookalike.pid, "http://127.0.0.1:1")
        assert not local_worker.healthy(found)  # nothing answers there
    finally:
        lookalike.kill()
        lookalike.wait()
