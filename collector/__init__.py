"""lineage-collector SDK: emit lineage events from the services that do the work."""

from lineage_collector.client import LineageClient
from lineage_collector.config import Settings
from lineage_collector.datasets import ContentVersion, version_of_dataframe, version_of_file
from lineage_collector.errors import InvalidEventError, LineageError
from lineage_collector.events import (
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
from lineage_collector.inference_log import InferenceLogger

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
