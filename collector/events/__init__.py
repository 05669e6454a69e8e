"""Typed lineage events, one class per event schema in ``schemas/lineage/events/``.

An event holds what it is about; the envelope (``event_id``, ``event_time``, ``producer``,
``namespace``) is added by the client when it is emitted. ``key()`` is the node the event is
about: Kafka keeps the events of one node in order on one partition.

Events about data are in :mod:`~lineage_collector.events.data`, about models in
:mod:`~lineage_collector.events.models`, tags in :mod:`~lineage_collector.events.tags`; what
they are made of (dataset and input references, field checks) in
:mod:`~lineage_collector.events.fields`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from lineage_collector.events.data import (
    DatasetVersion,
    SourceExtraction,
    SubjectLinks,
    TransformationRun,
)
from lineage_collector.events.fields import (
    RUN_STATUSES,
    TRANSFORMATION_KINDS,
    DatasetRef,
    InputRef,
)
from lineage_collector.events.models import Deployment, Inference, TrainingRun
from lineage_collector.events.tags import Tag


class Event(Protocol):
    """What every event class offers the client."""

    SCHEMA: ClassVar[str]
    TOPIC: ClassVar[str]  # "events" or "inferences": which configured topic carries it

    def key(self) -> str: ...
    def validate(self) -> None: ...
    def fields(self) -> dict[str, Any]: ...


EVENT_CLASSES: tuple[type[Any], ...] = (
    SourceExtraction,
    TransformationRun,
    DatasetVersion,
    SubjectLinks,
    TrainingRun,
    Deployment,
    Inference,
    Tag,
)

__all__ = [
    "EVENT_CLASSES",
    "RUN_STATUSES",
    "TRANSFORMATION_KINDS",
    "DatasetRef",
    "DatasetVersion",
    "Deployment",
    "Event",
    "Inference",
    "InputRef",
    "SourceExtraction",
    "SubjectLinks",
    "Tag",
    "TrainingRun",
    "TransformationRun",
]
