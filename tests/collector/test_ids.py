from __future__ import annotations

import pytest

from lineage_collector.errors import NodeIdError
from lineage_collector.ids import NodeId, dataset_id, model_id, parse_node_id


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("model:intent-classifier@3.4.2", NodeId("model", "intent-classifier", "3.4.2")),
        ("dataset:warehouse/customers@v12", NodeId("dataset", "warehouse/customers", "v12")),
        ("source:crm/export", NodeId("source", "crm/export")),
        (
            "run:6a1d5c2e-3f0b-4c4e-9d7a-0a1b2c3d4e5f",
            NodeId("run", "6a1d5c2e-3f0b-4c4e-9d7a-0a1b2c3d4e5f"),
        ),
        ("deployment:prod/intent-api", NodeId("deployment", "prod/intent-api")),
    ],
)
def test_parse_round_trips(text: str, parsed: NodeId) -> None:
    assert parse_node_id(text) == parsed
    assert str(parsed) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("intent-classifier@3.4.2", "expected kind:name"),
        ("widget:foo", "unknown kind 'widget'"),
        ("source:crm/export@v1", "source nodes carry no @version"),
        ("model:has space@1", "is not a node id"),
        ("model:@1", "is not a node id"),
    ],
)
def test_malformed_ids_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(NodeIdError, match=message):
        parse_node_id(text)


def test_builders_refuse_unusable_parts() -> None:
    assert model_id("nlp/intent", "1.0") == "model:nlp/intent@1.0"
    assert dataset_id("a", "v1") == "dataset:a@v1"
    with pytest.raises(NodeIdError, match="model version '1 0'"):
        model_id("m", "1 0")
