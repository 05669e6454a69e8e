"""Coverage read from a real embedded store: exact shares and counts over rows we wrote."""

from __future__ import annotations

from datetime import UTC, datetime

from lineage_processors.ops.coverage import Coverage, measure_coverage
from lineage_processors.store.connect import Store

WHEN = datetime(2026, 5, 1, tzinfo=UTC)


def insert(store: Store, table: str, columns: list[str], rows: list[tuple[object, ...]]) -> None:
    store.client.insert(table, rows, column_names=columns)


def node(node_id: str) -> tuple[object, ...]:
    kind, _, rest = node_id.partition(":")
    name, _, version = rest.partition("@")
    return (node_id, kind, name, version, "ns", WHEN, "e")


def test_an_empty_store_is_fully_covered(store: Store) -> None:
    assert measure_coverage(store) == Coverage(1.0, 0, 1.0, 1.0, 0)


def test_exact_shares_and_counts(store: Store) -> None:
    insert(
        store,
        "nodes",
        ["node_id", "kind", "name", "version", "namespace", "event_time", "event_id"],
        [
            node(n)
            for n in (
                "model:a@1",
                "model:b@1",
                "model:c@1",
                "model:a@1",  # a second event about a model: still one model
                "source:crm",
                "dataset:d@v1",
                "job:clean",
                "run:t1",
                "run:t2",
                "run:t3",
                "run:train",
            )
        ],
    )
    # Model a reaches a source; b reaches only a dataset; c nothing.
    insert(
        store,
        "model_upstream",
        ["model_node", "ancestor", "depth", "since"],
        [
            ("model:a@1", "source:crm", 3, WHEN),
            ("model:a@1", "dataset:d@v1", 2, WHEN),
            ("model:b@1", "dataset:d@v1", 2, WHEN),
        ],
    )
    # Three runs of a job (transformation runs), one training run; one edge from a dataset
    # no event ever described.
    edge_columns = ["src", "dst", "relation", "role", "event_time", "run_id", "event_id"]
    insert(
        store,
        "edges",
        edge_columns,
        [
            ("job:clean", "run:t1", "job", "", WHEN, "t1", "e"),
            ("job:clean", "run:t2", "job", "", WHEN, "t2", "e"),
            ("job:clean", "run:t3", "job", "", WHEN, "t3", "e"),
            ("run:t1", "dataset:d@v1", "output", "", WHEN, "t1", "e"),
            ("dataset:ghost@v9", "run:t2", "input", "train", WHEN, "t2", "e"),
            ("dataset:d@v1", "run:train", "input", "train", WHEN, "train", "e"),
        ],
    )
    insert(
        store,
        "properties",
        ["node_id", "key", "value", "event_time", "event_id"],
        [
            ("run:t1", "param.drop_nulls", "true", WHEN, "e"),
            ("run:t1", "param.limit", "10", WHEN, "e"),
            ("run:t1", "status", "COMPLETED", WHEN, "e"),
            ("run:t3", "status", "COMPLETED", WHEN, "e"),
            ("run:train", "param.lr", "0.1", WHEN, "e"),  # not a transformation run
            ("run:train", "hyperparameter.lr", "0.1", WHEN, "e"),
        ],
    )
    insert(
        store,
        "inferences",
        ["inference_id", "model_node", "deployment", "event_time", "served_model", "resolved"],
        [
            ("p1", "model:a@1", "", WHEN, "model:a@1", 1),
            ("p2", "model:a@1", "", WHEN, "model:a@1", 1),
            ("p3", "model:a@1", "", WHEN, "model:a@1", 1),
            ("p4", "model:b@1", "", WHEN, "model:b@1", 1),
            ("p5", "model:c@1", "", WHEN, "model:c@1", 0),
        ],
    )
    assert measure_coverage(store) == Coverage(
        inferences_attributed=0.8,
        unresolved_inferences=1,
        models_reaching_source=1 / 3,
        runs_with_parameters=1 / 3,
        edges_to_unknown_nodes=1,
    )
