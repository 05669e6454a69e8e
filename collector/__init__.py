"""lineage-collector SDK: emit lineage events from the services that do the work."""

from collector.client import LineageClient
from collector.config import Settings
from collector.datasets import ContentVersion, version_of_dataframe, version_of_file
from collector.errors import InvalidEventError, LineageError
from collector.events import (
    DatasetRef,
    DatasetVersion,
    Deployment,
    Inference,
    InputRef,
    SourceExtraction,
    SubjectLinks,
    Tag,
    TrainingRun,
    TransformationRun,
)
from collector.inference_log import InferenceLogger

__all__ = [
    "ContentVersion",
    "DatasetRef",
    "DatasetVersion",
    "Deployment",
    "Inference",
    "InferenceLogger",
    "InputRef",
    "InvalidEventError",
    "LineageClient",
    "LineageError",
    "Settings",
    "SourceExtraction",
    "SubjectLinks",
    "Tag",
    "TrainingRun",
    "TransformationRun",
    "version_of_dataframe",
    "version_of_file",
]
