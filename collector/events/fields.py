"""What events are made of: references to dataset versions and inputs, and field checks.

The checks turn a bad field into an :class:`~lineage_collector.errors.InvalidEventError` that
names the event and the field, so a mistake shows at the emit call that made it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lineage_collector import ids
from lineage_collector.errors import InvalidEventError, NodeIdError

RUN_STATUSES = ("STARTED", "COMPLETED", "FAILED")
TRANSFORMATION_KINDS = ("CLEAN", "FILTER", "AUGMENT", "LABEL", "FEATURE", "CHUNK", "EMBED", "OTHER")


@dataclass(frozen=True)
class DatasetRef:
    """A dataset version as used by a run, with the role it played (train, validation, ...)."""

    name: str
    version: str
    role: str = ""

    @property
    def node_id(self) -> str:
        return ids.dataset_id(self.name, self.version)

    def record(self, default_role: str = "") -> dict[str, str]:
        return {"dataset": self.name, "version": self.version, "role": self.role or default_role}


@dataclass(frozen=True)
class InputRef:
    """Something an inference read: a feature row, a retrieved chunk, a document."""

    kind: str
    ref: str
    dataset: str | None = None  # node id of the dataset version it came from, when known

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "ref": self.ref, "dataset": self.dataset}


def new_run_id() -> str:
    """A fresh run id."""
    return str(uuid.uuid4())


def check_id(event: str, build: Any) -> str:
    """Run an id builder, turning its complaint into an InvalidEventError naming the event."""
    try:
        return str(build())
    except NodeIdError as exc:
        raise InvalidEventError(f"{event}: {exc}") from None


def require(event: str, name: str, value: Any) -> None:
    """Refuse a missing or blank field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidEventError(f"{event}: field {name!r} is required")


def one_of(event: str, name: str, value: str, allowed: Sequence[str]) -> None:
    """Refuse a value outside ``allowed``."""
    if value not in allowed:
        raise InvalidEventError(
            f"{event}: field {name!r} is {value!r}, expected one of {', '.join(allowed)}"
        )


def float_map(event: str, name: str, values: Mapping[str, Any]) -> dict[str, float]:
    """``values`` with every value a float; refuses one that is no number."""
    out = {}
    for key, value in values.items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            raise InvalidEventError(
                f"{event}: field {name!r} entry {key!r} is {value!r}, expected a number"
            ) from None
    return out


def check_refs(event: str, name: str, refs: Sequence[DatasetRef]) -> None:
    """Refuse anything but DatasetRefs with valid node ids."""
    for i, ref in enumerate(refs):
        if not isinstance(ref, DatasetRef):
            raise InvalidEventError(f"{event}: {name}[{i}] must be a DatasetRef, got {ref!r}")
        check_id(event, lambda r=ref: r.node_id)
