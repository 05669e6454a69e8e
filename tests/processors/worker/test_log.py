"""The worker logs at the level it is given: below it, library debug calls cost nothing."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import faust
import pytest

from lineage_collector.log_hygiene import RepeatFilter
from lineage_processors.worker.app import service_worker
from lineage_processors.worker.log import logging_config
from tests.conftest import REPO


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


@pytest.fixture
def worker_logging(root_logger: logging.Logger) -> Iterator[None]:
    """Whatever a worker's logging set-up changes in this process, put back afterwards:
    it sends stdout and stderr to the log (mode's redirect) and opens files."""
    streams = sys.stdout, sys.stderr
    yield
    sys.stdout, sys.stderr = streams
    for handler in root_logger.handlers:
        handler.close()


def test_ten_thousand_identical_errors_are_a_line_a_minute_in_the_worker_log(
    worker_logging: None, tmp_path: Path
) -> None:
    """aiokafka's retries and librdkafka's lines, 40 of each a second for 250 s while Kafka
    is away: five lines of each in the worker's log, the first and then one a minute with
    how many it stands for."""
    now = [0.0]
    log_file = tmp_path / "worker.log"
    config = logging_config(
        "INFO", log_file, own_std_streams=False, repeats=RepeatFilter(60, lambda: now[0])
    )
    app = faust.App("logging-test", broker="kafka://127.0.0.1:1")
    service_worker(app, "INFO", config)._setup_logging()
    # confluent-kafka's way of logging librdkafka's lines, on a logger the SDK does not
    # filter itself (it does lineage_collector.kafka), so that this handler's filter is what counts.
    aiokafka, librdkafka = logging.getLogger("aiokafka"), logging.getLogger("tests.rdkafka")
    for i in range(10_000):
        now[0] = i * 0.025
        aiokafka.error("Unable connect to node with id %s: %s", 1, "Connect call failed")
        librdkafka.error("%s [%s] %s", "FAIL", "rdkafka#producer-1", f"Connect to :{i} failed")
    lines = log_file.read_text().splitlines()
    assert len(lines) == 10, lines
    assert [re.sub(r"^\[.*?\] \[\d+\] ", "", line) for line in lines[-2:]] == [
        "[ERROR]: Unable connect to node with id 1: Connect call failed "
        "(repeated 2399 times in the last 60 s) ",
        "[ERROR]: FAIL [rdkafka#producer-1] Connect to :9600 failed "
        "(repeated 2399 times in the last 60 s) ",
    ]


ROTATING = """
import logging, os, sys
from pathlib import Path
import faust
from lineage_processors.worker.app import service_worker
from lineage_processors.worker.log import logging_config

config = logging_config("INFO", Path(sys.argv[1]), max_bytes=20_000, backups=2)
service_worker(faust.App("rotation", broker="kafka://127.0.0.1:1"), "INFO", config)._setup_logging()
for i in range(1_000):
    logging.getLogger("rotation").warning(f"line {i} " + "x" * 60)  # each its own kind
    if i % 10 == 0:
        os.write(2, f"written to stderr, not logged, after line {i}\\n".encode())
"""


def test_the_worker_log_rotates_at_its_size_with_what_bypasses_logging(tmp_path: Path) -> None:
    """A worker given a log file caps it and its backups at LINEAGE_LOG_MAX_BYTES and
    LINEAGE_LOG_BACKUPS, and its stderr (here, as `lineage up` starts it, pointed at the
    same file) follows the file through each rotation rather than growing the old one."""
    log_file = tmp_path / "worker.log"
    with open(log_file, "ab") as out:
        done = subprocess.run(
            [sys.executable, "-c", ROTATING, str(log_file)],
            stdout=out,
            stderr=out,
            cwd=REPO,
            timeout=120,
        )
    assert done.returncode == 0, log_file.read_text()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["worker.log", "worker.log.1", "worker.log.2"]
    sizes = [(tmp_path / name).stat().st_size for name in files]
    assert all(9_000 < size <= 20_000 for size in sizes[1:]), sizes
    assert sizes[0] <= 20_000
    current = log_file.read_text().splitlines()
    assert "line 999 " in current[-1]
    strays = 0
    for name in files:  # each stray line is in the file its logged line before it went to
        lines = (tmp_path / name).read_text().splitlines()
        logged = {int(line.split("line ")[1].split()[0]) for line in lines if "]: line " in line}
        stray = {int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("written")}
        assert stray <= logged, name
        strays += len(stray)
    assert strays >= 20
