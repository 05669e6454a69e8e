"""lineage-collector SDK: emit lineage events from the services that do the work."""

from collector.client import LineageClient
from collector.config import Settings
from collector.errors import LineageError
from collector.events import DatasetRef, TrainingRun

__all__ = ["DatasetRef", "LineageClient", "LineageError", "Settings", "TrainingRun"]
