"""Typed lineage events, one class per schema in ``schemas/``.

An event holds what it is about; the envelope (``event_id``, ``event_time``, ``producer``,
``namespace``) is added by the client when it is emitted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from collector import ids
from collector.errors import InvalidEventError, NodeIdError

RUN_STATUSES = ("STARTED", "COMPLETED", "FAILED")


@dataclass(frozen=True)
class DatasetRef:
    """A dataset version as used by a run, with the role it played (train, validation, ...)."""

    name: str
    version: str
    split: str = "train"

    @property
    def node_id(self) -> str:
        return ids.dataset_id(self.name, self.version)


@dataclass(frozen=True)
class TrainingRun:
    """A model version trained on dataset versions."""

    SCHEMA: ClassVar[str] = "lineage.events.TrainingRun"

    model: str
    model_version: str
    datasets: Sequence[DatasetRef]
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    code_version: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    status: str = "COMPLETED"
    error_message: str | None = None

    def key(self) -> str:
        """Kafka key: the model version, so all events about it stay in order on one partition."""
        return ids.model_id(self.model, self.model_version)

    def validate(self) -> None:
        """Raise :class:`InvalidEventError` naming the first thing wrong with the event."""
        try:
            self.key()
            ids.run_id(self.run_id)
            for ds in self.datasets:
                ds.node_id  # noqa: B018 - validates the name and version
        except NodeIdError as exc:
            raise InvalidEventError(f"TrainingRun: {exc}") from None
        if not self.datasets:
            raise InvalidEventError(
                f"TrainingRun of {self.key()}: datasets is empty; name the dataset versions "
                "the model was trained on"
            )
        if self.status not in RUN_STATUSES:
            raise InvalidEventError(
                f"TrainingRun: status {self.status!r} is not one of {', '.join(RUN_STATUSES)}"
            )

    def fields(self) -> dict[str, Any]:
        """The event's own fields, as the Avro record expects them."""
        return {
            "run_id": self.run_id,
            "model": self.model,
            "model_version": self.model_version,
            "datasets": [
                {"dataset": d.name, "version": d.version, "split": d.split} for d in self.datasets
            ],
            "hyperparameters": {str(k): str(v) for k, v in self.hyperparameters.items()},
            "code_version": self.code_version,
            "metrics": {str(k): float(v) for k, v in self.metrics.items()},
            "status": self.status,
            "error_message": self.error_message,
        }


Event = TrainingRun
