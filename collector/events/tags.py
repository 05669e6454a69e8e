"""Tags and incidents on nodes: what propagates downstream (pii, bias, corrupted labels)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from lineage_collector import ids
from lineage_collector.errors import InvalidEventError
from lineage_collector.events.fields import check_id, require


@dataclass(frozen=True)
class Tag:
    """A tag or incident on a node (pii, bias, corrupted-labels, ...)."""

    SCHEMA: ClassVar[str] = "lineage.events.Tag"
    TOPIC: ClassVar[str] = "events"

    node: str
    tag: str
    incident_id: str | None = None
    record_count: int | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    reason: str | None = None
    active: bool = True

    def key(self) -> str:
        return check_id("Tag", lambda: ids.parse_node_id(self.node))

    def validate(self) -> None:
        self.key()
        require("Tag", "tag", self.tag)
        if self.window_start and self.window_end and self.window_end < self.window_start:
            raise InvalidEventError("Tag: field 'window_end' is before 'window_start'")

    def fields(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "tag": self.tag,
            "incident_id": self.incident_id,
            "record_count": self.record_count,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "reason": self.reason,
            "active": self.active,
        }
