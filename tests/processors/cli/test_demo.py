"""`lineage demo` while it waits: it says how far the worker got, and stops at once when there
is no worker or the worker exits (the story's answers: tests/e2e/test_demo.py)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage_processors.answers.runner import QueryRunner, Table
from lineage_processors.cli.demo import (
    Stored,
    StoringWorker,
    storing_worker,
    wait_until_stored,
)
from lineage_processors.cli.demo_story import AFFECTED_MODELS, INCIDENT
from lineage_processors.errors import LocalStackError, ProcessorError
from lineage_processors.settings import WorkerSettings
from tests.conftest import run_cli

EXPECTED = 100


class Filling:
    """A store the worker fills: each look finds more of the story, until all of it."""

    def __init__(self, looks_to_fill: int) -> None:
        self.looks = 0
        self.looks_to_fill = looks_to_fill

    def run(self, sql: str, parameters: dict[str, Any] | None = None) -> Table:
        share = min(1.0, self.looks / self.looks_to_fill)
        if "uniqExact(inference_id)" in sql:
            self.looks += 1
            return Table(["n"], [[int(EXPECTED * share)]])
        if "active_tag_impacts" in sql:
            return Table(["n"], [[int(len(AFFECTED_MODELS) * share)]])
        return Table(["n"], [[0 if share == 1.0 else 7]])

    @contextlib.contextmanager
    def open(self, settings: WorkerSettings) -> Iterator[QueryRunner]:
        yield self


def test_the_wait_says_how_far_the_worker_got_every_few_seconds(tmp_path: Path) -> None:
    store = Filling(looks_to_fill=8)
    said: list[str] = []
    wait_until_stored(
        WorkerSettings(state_dir=tmp_path), EXPECTED, 60, None, said.append, 0.05, store.open
    )
    assert store.looks == 9 and 2 <= len(said) <= 8, said
    assert said[0].startswith("  still waiting, 0 s: ")
    assert "of 100 predictions stored, 7 of them not yet tied to their model version" in said[0]
    assert f"incident {INCIDENT} carried to" in said[0]


def test_the_wait_ends_at_its_timeout_saying_what_is_missing(tmp_path: Path) -> None:
    store = Filling(looks_to_fill=10**9)
    with pytest.raises(ProcessorError) as caught:
        wait_until_stored(
            WorkerSettings(state_dir=tmp_path), EXPECTED, 0.3, None, lambda _: None, 1, store.open
        )
    assert "had not stored the demo within 0s (0 of 100 predictions stored" in str(caught.value)


def test_the_wait_stops_at_once_when_the_worker_exits(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("INFO starting\nERROR the store's disk is full\n")
    doomed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    worker = StoringWorker(doomed.pid, log)
    store = Filling(looks_to_fill=10**9)
    started = time.monotonic()
    with pytest.raises(LocalStackError) as caught:
        wait_until_stored(
            WorkerSettings(state_dir=tmp_path),
            EXPECTED,
            600,
            worker,
            lambda _: None,
            1,
            store.open,
        )
    doomed.wait()
    assert time.monotonic() - started < 30  # not the 600 s the wait was given
    message = str(caught.value)
    assert message.startswith(
        f"the worker (pid {doomed.pid}) exited before it had stored the demo (0 of 100"
    )
    assert f"The end of its log, {log}:\n    INFO starting\n    ERROR the store's" in message


def test_progress_is_done_only_with_everything_stored() -> None:
    assert Stored(EXPECTED, EXPECTED, len(AFFECTED_MODELS), 0).done
    assert not Stored(EXPECTED, EXPECTED, len(AFFECTED_MODELS), 1).done
    assert not Stored(EXPECTED - 1, EXPECTED, len(AFFECTED_MODELS), 0).done
    assert not Stored(EXPECTED, EXPECTED, len(AFFECTED_MODELS) - 1, 0).done


def test_which_worker_the_demo_waits_for(tmp_path: Path) -> None:
    # An embedded store nobody holds: no worker will ever store the story.
    with pytest.raises(LocalStackError, match="no worker runs to store the demo"):
        storing_worker(WorkerSettings(state_dir=tmp_path))
    # A ClickHouse server's workers may run anywhere: nothing to watch.
    server = WorkerSettings(state_dir=tmp_path, clickhouse_url="http://127.0.0.1:1/lineage")
    assert storing_worker(server) is None


def test_with_no_worker_the_demo_says_so_at_once(settings: WorkerSettings, tmp_path: Path) -> None:
    started = time.monotonic()
    out = run_cli(settings, "demo", timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "lineage: error: no worker runs to store the demo: start the local stack with " in (
        out.stderr
    )
    assert "emitted" not in out.stdout  # nothing sent that nobody would store
    assert time.monotonic() - started < 60
