"""Events about models: a version trained on datasets, deployed, and the predictions it made."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from lineage_collector import ids
from lineage_collector.errors import InvalidEventError, NodeIdError
from lineage_collector.events.fields import (
    RUN_STATUSES,
    DatasetRef,
    InputRef,
    check_id,
    check_refs,
    float_map,
    new_run_id,
    one_of,
    require,
)


@dataclass(frozen=True)
class TrainingRun:
    """A model version trained on dataset versions."""

    SCHEMA: ClassVar[str] = "lineage.events.TrainingRun"
    TOPIC: ClassVar[str] = "events"

    model: str
    model_version: str
    datasets: Sequence[DatasetRef]
    run_id: str = field(default_factory=new_run_id)
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    code_version: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    status: str = "COMPLETED"
    error_message: str | None = None

    def key(self) -> str:
        """The model version, so all events about it stay in order on one partition."""
        return check_id("TrainingRun", lambda: ids.model_id(self.model, self.model_version))

    def validate(self) -> None:
        self.key()
        check_id("TrainingRun", lambda: ids.run_id(self.run_id))
        check_refs("TrainingRun", "datasets", self.datasets)
        if not self.datasets:
            raise InvalidEventError(
                f"TrainingRun of {self.key()}: field 'datasets' is empty; name the dataset "
                "versions the model was trained on"
            )
        one_of("TrainingRun", "status", self.status, RUN_STATUSES)

    def fields(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "model_version": self.model_version,
            "datasets": [d.record(default_role="train") for d in self.datasets],
            "hyperparameters": {str(k): str(v) for k, v in self.hyperparameters.items()},
            "code_version": self.code_version,
            "metrics": float_map("TrainingRun", "metrics", self.metrics),
            "status": self.status,
            "error_message": self.error_message,
        }


@dataclass(frozen=True)
class Deployment:
    """A model version serving in an environment from ``valid_from`` until ``valid_until``."""

    SCHEMA: ClassVar[str] = "lineage.events.Deployment"
    TOPIC: ClassVar[str] = "events"

    deployment: str
    environment: str
    model: str
    model_version: str
    valid_from: datetime
    valid_until: datetime | None = None

    def key(self) -> str:
        return check_id("Deployment", lambda: ids.deployment_id(self.deployment))

    def validate(self) -> None:
        self.key()
        require("Deployment", "environment", self.environment)
        check_id("Deployment", lambda: ids.model_id(self.model, self.model_version))
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise InvalidEventError("Deployment: field 'valid_until' is before 'valid_from'")

    def fields(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "environment": self.environment,
            "model": self.model,
            "model_version": self.model_version,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
        }


@dataclass(frozen=True)
class Inference:
    """One prediction. ``subject`` is a pseudonym: the client makes it from the raw id."""

    SCHEMA: ClassVar[str] = "lineage.events.Inference"
    TOPIC: ClassVar[str] = "inferences"

    inference_id: str
    model: str | None = None
    model_version: str | None = None
    deployment: str | None = None
    inputs: Sequence[InputRef] = ()
    output: str | None = None
    subject: str | None = None

    def key(self) -> str:
        # Keyed by model version (or deployment): one model's predictions stay together.
        try:
            return ids.served_by(self.model, self.model_version, self.deployment)
        except NodeIdError as exc:
            raise InvalidEventError(f"Inference {self.inference_id!r}: {exc}") from None

    def validate(self) -> None:
        require("Inference", "inference_id", self.inference_id)
        self.key()

    def fields(self) -> dict[str, Any]:
        return {
            "inference_id": self.inference_id,
            "model": self.model,
            "model_version": self.model_version,
            "deployment": self.deployment,
            "inputs": [i.record() for i in self.inputs],
            "output": self.output,
            "subject": self.subject,
        }
