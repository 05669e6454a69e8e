"""The ingest bench's records: the events it claims, keyed as the SDK keys them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lineage_collector import LineageClient
from lineage_collector.catalog import load_catalog
from lineage_collector.wire import decode
from lineage_processors.bench.ingest import _graph_payloads, _inference_payloads

KEY = "k" * 64
CATALOG = load_catalog()


@pytest.fixture
def client() -> Iterator[LineageClient]:
    # Nothing is sent: the client only encodes.
    client = LineageClient("127.0.0.1:9", subject_key=KEY, producer_config={"log_level": 0})
    yield client
    client.close()


def test_predictions_go_in_batches_of_two_thousand(client: LineageClient) -> None:
    payloads = _inference_payloads(client, 4500)
    assert [n for _, _, n in payloads] == [2000, 2000, 500]
    ids = []
    for key, value, n in payloads:
        schema, fields = decode(CATALOG, value)
        assert schema.name == "lineage.events.InferenceBatch"
        assert key == f"model:{fields['model']}@{fields['model_version']}".encode()
        assert len(fields["inferences"]) == n
        ids += [i["inference_id"] for i in fields["inferences"]]
    assert ids == [f"p{i}" for i in range(4500)]


def test_graph_events_are_one_training_run_each(client: LineageClient) -> None:
    payloads = _graph_payloads(client, 3)
    assert [n for _, _, n in payloads] == [1, 1, 1]
    for i, (key, value, _) in enumerate(payloads):
        schema, fields = decode(CATALOG, value)
        assert schema.name == "lineage.events.TrainingRun"
        assert (fields["model"], fields["model_version"]) == (f"model-{i}", f"1.{i}")
        assert key.decode().startswith(f"model:model-{i}@1.{i}")
