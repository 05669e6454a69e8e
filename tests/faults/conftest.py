"""The fault suite: each test is one scenario of faults survived with nothing lost.

Every test here carries the ``faults`` marker. Sizes come from ``LINEAGE_FAULTS_SIZE``:
``reduced`` (the default, what ``make test`` runs, a few minutes in all) or ``full``
(``make faults``: more events, more faults, longer outages).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.load import CpuHog

SIZES = ("reduced", "full")


def full_size() -> bool:
    size = os.environ.get("LINEAGE_FAULTS_SIZE", "reduced")
    if size not in SIZES:
        raise pytest.UsageError(f"LINEAGE_FAULTS_SIZE={size!r}: use reduced or full")
    return size == "full"


def sized(reduced: int, full: int) -> int:
    """``reduced`` in the reduced run, ``full`` in the full one."""
    return full if full_size() else reduced


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def cpu_hog() -> Iterator[CpuHog]:
    """Twelve busy loops beside the test for its whole run (tests.faults.load): a load
    average above 10 on a two-core machine, where the scenario must pass all the same. They
    must have spun to the end; the load average itself lags a minute behind, so it is only
    reported."""
    hog = CpuHog().start()
    try:
        yield hog
        assert hog.spinning() == hog.processes, "a busy loop of the CPU hog stopped early"
    finally:
        hog.stop()
        print(f"cpu hog: {hog.processes} busy loops, 1-minute load up to {hog.peak_load:.1f}")
