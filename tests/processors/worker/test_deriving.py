"""The worker's derived state: a derive loop that runs again at once while behind, else a
second after the last run began, and an attribution sweep, both as background tasks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage_processors.derive.attribution import SWEEP_SECONDS
from lineage_processors.derive.state import DERIVE_SECONDS
from lineage_processors.ops.metrics import WorkerMetrics
from lineage_processors.settings import WorkerSettings
from lineage_processors.store.connect import Store
from lineage_processors.worker.background import Background
from lineage_processors.worker.deriving import Deriving


class App:
    """Keeps what a Background registers on it."""

    def __init__(self) -> None:
        self.tasks: list[str] = []
        self.timers: list[tuple[str, float]] = []

    def task(self, fn: Callable[..., Any]) -> None:
        self.tasks.append(fn.__name__)

    def timer(self, interval: float, name: str) -> Callable[[Any], None]:
        return lambda fn: self.timers.append((name, interval))


@pytest.fixture
def deriving(store: Store, tmp_path: Path) -> Iterator[Deriving]:
    made = Deriving(store.session(), WorkerSettings(state_dir=tmp_path / "state"))
    yield made
    made.executor.shutdown()
    made.derivation.store.close()


def test_derive_and_sweep_run_as_background_tasks(deriving: Deriving) -> None:
    app = App()
    deriving.install(Background(app, WorkerMetrics.fresh()))
    assert app.tasks == ["derive"]
    assert app.timers == [("attribution_sweep", SWEEP_SECONDS)]


def test_a_run_behind_is_followed_at_once_else_after_the_interval(
    deriving: Deriving, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []

    def run(behind: bool) -> None:
        threads.append(threading.current_thread().name)
        deriving.derivation.behind = behind

    monkeypatch.setattr(deriving.derivation, "run", lambda: run(True))
    assert asyncio.run(deriving.derive()) == 0.0
    monkeypatch.setattr(deriving.derivation, "run", lambda: run(False))
    assert 0.0 < asyncio.run(deriving.derive()) <= DERIVE_SECONDS
    assert all(name.startswith("derive") for name in threads)
    asyncio.run(deriving.sweep())  # on the same thread, against the real store
