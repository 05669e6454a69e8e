"""Fixtures for tests of the processors against a real embedded store (no Kafka)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_processors.store import migrate, open_store
from lineage_processors.store.connect import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated chDB store of this test's own."""
    opened = open_store(f"chdb://{tmp_path / 'chdb'}", role="test")
    migrate(opened)
    yield opened
    opened.close()
