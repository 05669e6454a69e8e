"""Tags and incidents on nodes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lineage_collector.errors import InvalidEventError
from lineage_collector.events.tags import Tag


def test_a_tag_is_about_its_node_and_its_window_runs_forward() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    tag = Tag("source:crm/export", "pii", record_count=12, window_start=start, window_end=end)
    tag.validate()
    assert tag.key() == "source:crm/export"
    assert tag.fields()["active"] is True
    with pytest.raises(InvalidEventError, match="'window_end' is before 'window_start'"):
        Tag("source:crm/export", "pii", window_start=end, window_end=start).validate()
    with pytest.raises(InvalidEventError, match="field 'tag' is required"):
        Tag("source:crm/export", "").validate()
    with pytest.raises(InvalidEventError, match="unknown kind 'widget'"):
        Tag("widget:x", "pii").validate()
