"""The fault suite: each test is one scenario of faults survived with nothing lost.

Every test here carries the ``faults`` marker. Sizes come from ``LINEAGE_FAULTS_SIZE``:
``reduced`` (the default, what ``make test`` runs, a few minutes in all) or ``full``
(``make faults``: more events, more faults, longer outages).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
