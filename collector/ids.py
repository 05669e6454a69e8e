"""Node ids: one stable string per node of the lineage graph.

``kind:name[@version]``, for example ``source:crm/export``, ``dataset:warehouse/customers@v12``,
``job:etl/clean_normalize``, ``run:<uuid>``, ``model:intent-classifier@3.4.2``,
``deployment:prod/intent-api``, ``inference:<id>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lineage_collector.errors import NodeIdError

KINDS = ("source", "dataset", "job", "run", "model", "deployment", "inference")
# Kinds whose nodes are versions of a named thing; the others must not carry a version.
VERSIONED_KINDS = frozenset({"dataset", "model"})

# Names are path-like (namespace/name), versions are free-form tokens. Both exclude
# whitespace, '@' and ':' at the start so that the id splits one way only.
_NAME = r"[A-Za-z0-9_.\-][A-Za-z0-9_.\-/:+]*"
_VERSION = r"[A-Za-z0-9_.\-+]+"
# Compiled once: ids are checked several times per event on the worker's hot path.
_NAME_RE = re.compile(_NAME)
_VERSION_RE = re.compile(_VERSION)
_NODE_RE = re.compile(rf"^(?P<kind>[a-z]+):(?P<name>{_NAME})(?:@(?P<version>{_VERSION}))?$")

FORMAT_HELP = (
    "expected kind:name[@version] with kind one of "
    + ", ".join(KINDS)
    + " (e.g. model:intent-classifier@3.4.2, dataset:warehouse/customers@v12)"
)


@dataclass(frozen=True)
class NodeId:
    """A parsed node id."""

    kind: str
    name: str
    version: str = ""

    def __str__(self) -> str:
        return (
            f"{self.kind}:{self.name}@{self.version}"
            if self.version
            else f"{self.kind}:{self.name}"
        )


def parse_node_id(text: str) -> NodeId:
    """Parse and validate a node id, with a message saying what is wrong."""
    match = _NODE_RE.match(text.strip())
    if match is None:
        raise NodeIdError(f"{text!r} is not a node id: {FORMAT_HELP}")
    kind, name, version = match.group("kind"), match.group("name"), match.group("version") or ""
    if kind not in KINDS:
        raise NodeIdError(f"{text!r} has unknown kind {kind!r}: {FORMAT_HELP}")
    if version and kind not in VERSIONED_KINDS:
        raise NodeIdError(f"{text!r}: {kind} nodes carry no @version")
    return NodeId(kind, name, version)


def _check_part(what: str, value: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str):
        raise NodeIdError(f"{what} {value!r} is a {type(value).__name__}, expected a string")
    if not pattern.fullmatch(value):
        raise NodeIdError(f"{what} {value!r} is not allowed: use letters, digits and . _ - / +")
    return value


def model_id(name: str, version: str) -> str:
    """``model:NAME@VERSION``."""
    return str(
        NodeId(
            "model",
            _check_part("model name", name, _NAME_RE),
            _check_part("model version", version, _VERSION_RE),
        )
    )


def dataset_id(name: str, version: str) -> str:
    """``dataset:NAME@VERSION``."""
    return str(
        NodeId(
            "dataset",
            _check_part("dataset name", name, _NAME_RE),
            _check_part("dataset version", version, _VERSION_RE),
        )
    )


def run_id(run_uuid: str) -> str:
    """``run:UUID``."""
    return str(NodeId("run", _check_part("run id", run_uuid, _NAME_RE)))


def source_id(name: str) -> str:
    """``source:NAME``."""
    return str(NodeId("source", _check_part("source name", name, _NAME_RE)))


def job_id(name: str) -> str:
    """``job:NAME``."""
    return str(NodeId("job", _check_part("job name", name, _NAME_RE)))


def deployment_id(name: str) -> str:
    """``deployment:NAME``."""
    return str(NodeId("deployment", _check_part("deployment name", name, _NAME_RE)))


def inference_id(name: str) -> str:
    """``inference:ID``."""
    return str(NodeId("inference", _check_part("inference id", name, _NAME_RE)))


def served_by(model: str | None, version: str | None, deployment: str | None) -> str:
    """The node that made a prediction: the model version if given, else the deployment.

    Raises :class:`NodeIdError` when neither is given or a part is malformed.
    """
    if model and version:
        return model_id(model, version)
    if deployment:
        return deployment_id(deployment)
    raise NodeIdError("give model and model_version, or deployment")
