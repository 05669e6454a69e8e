"""The worker logs at the level it is given: below it, library debug calls cost nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import faust
import pytest

from processors.worker import service_worker


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.mark.parametrize("level", ["INFO", "WARNING", "ERROR"])
def test_the_worker_sets_up_logging_at_its_level(root_logger: logging.Logger, level: str) -> None:
    app = faust.App("logging-test", broker="kafka://127.0.0.1:1")
    worker = service_worker(app, level)
    worker._setup_logging()  # what the worker does as it starts, before it runs the app
    assert root_logger.level == logging.getLevelName(level)
    # faust's spinner turned the root logger to DEBUG at WARNING and above: every debug call
    # of aiokafka (one per request) built and formatted a record.
    assert not logging.getLogger("aiokafka.conn").isEnabledFor(logging.DEBUG)
