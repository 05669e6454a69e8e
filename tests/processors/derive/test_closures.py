"""Model closures kept up by ClickHouse, run of edges by run of edges, equal closures walked
from scratch in Python; against a real chDB store."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from lineage_processors.derive.closures import extend_closures
from lineage_processors.derive.walks import ORIGIN, Edge, Hop, adjacency, reach
from lineage_processors.store.connect import Store

Closure = dict[tuple[str, str], Hop]


class Graph:
    """Edges stored run by run, each run at offsets of its own, with the step after each."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.offset = 0

    def add(self, edges: list[Edge]) -> None:
        first = self.offset
        rows = []
        for e in edges:
            when = datetime.fromtimestamp(e.time / 1000, UTC)
            rows.append((e.src, e.dst, "input", when, "t", 0, self.offset))
            self.offset += 1
        columns = ["src", "dst", "relation", "event_time", "src_topic", "src_partition"]
        self.store.client.insert("edges", rows, column_names=[*columns, "src_offset"])
        extend_closures(self.store, {("t", 0): (first, self.offset - 1)})

    def closure(self) -> Closure:
        """model_upstream as its min() merges make it."""
        rows = self.store.query(
            "SELECT model_node, ancestor, min(depth), toUnixTimestamp64Milli(min(since)) "
            "FROM model_upstream GROUP BY model_node, ancestor"
        ).result_rows
        return {(m, a): Hop(int(d), int(s)) for m, a, d, s in rows}

    def rows(self) -> int:
        return int(self.store.query("SELECT count() FROM model_upstream").result_rows[0][0])

    def clear(self) -> None:
        for table in ("edges", "model_upstream"):
            self.store.command(f"TRUNCATE TABLE {table}")


def full_closure(edges: list[Edge]) -> Closure:
    """Every model's closure walked from scratch: what the upkeep must equal."""
    up = adjacency(edges, "up")
    models = {n for e in edges for n in (e.src, e.dst) if n.startswith("model:")}
    return {
        (model, node): hop
        for model in models
        for node, hop in reach(up, model).items()
        if node != model
    }


def test_late_edge_adds_its_source_and_the_sources_ancestors(store: Store) -> None:
    graph = Graph(store)
    graph.add([Edge("source:s", "dataset:legacy", 0)])
    graph.add([Edge("dataset:raw", "run:t", 1), Edge("run:t", "dataset:clean", 1)])
    graph.add([Edge("dataset:clean", "run:r", 2), Edge("run:r", "model:m", 2)])
    graph.add([Edge("dataset:legacy", "run:l", 5), Edge("run:l", "dataset:raw", 5)])
    assert graph.closure() == {
        ("model:m", "run:r"): Hop(1, 2),
        ("model:m", "dataset:clean"): Hop(2, 2),
        ("model:m", "run:t"): Hop(3, 2),
        ("model:m", "dataset:raw"): Hop(4, 2),
        ("model:m", "run:l"): Hop(5, 5),
        ("model:m", "dataset:legacy"): Hop(6, 5),
        ("model:m", "source:s"): Hop(7, 5),
    }


def test_pairs_already_stored_as_good_are_not_written_again(store: Store) -> None:
    graph = Graph(store)
    graph.add([Edge("dataset:d", "run:r", 3), Edge("run:r", "model:m", 3)])
    assert graph.rows() == 2
    # The same offsets again, as after a crash before the progress was recorded.
    extend_closures(store, {("t", 0): (0, 1)})
    assert graph.rows() == 2
    # A shorter path and an earlier one: one more row each, merged by min().
    graph.add([Edge("dataset:d", "model:m", 9), Edge("dataset:e", "run:r", 1)])
    graph.add([Edge("run:r", "model:m", 1)])
    assert graph.closure() == {
        ("model:m", "run:r"): Hop(1, 1),
        ("model:m", "dataset:d"): Hop(1, 3),
        ("model:m", "dataset:e"): Hop(2, 1),
    }
    # d shorter, e new, then r and e earlier: improvements only.
    assert graph.rows() == 6


def test_edges_without_a_model_below_change_nothing(store: Store) -> None:
    graph = Graph(store)
    graph.add([Edge("dataset:a", "run:t", 1), Edge("run:t", "dataset:b", 1)])
    assert graph.rows() == 0


def test_a_cycle_back_to_the_model_is_not_its_own_ancestor(store: Store) -> None:
    graph = Graph(store)
    graph.add([Edge("model:m", "run:r", 1), Edge("run:r", "model:m", 1)])
    assert graph.closure() == {("model:m", "run:r"): Hop(1, 1)}


def random_dag(rng: random.Random, size: int) -> list[Edge]:
    kinds = ["source", "dataset", "run", "dataset", "run", "model", "deployment"]
    nodes = [f"{rng.choice(kinds)}:n{i}" for i in range(size)]
    edges = set()
    for _ in range(size * 2):
        a, b = sorted(rng.sample(range(size), 2))
        edges.add(Edge(nodes[a], nodes[b], rng.randint(1, 50)))
    return sorted(edges)


def test_incremental_upkeep_equals_the_closure_walked_from_scratch(store: Store) -> None:
    rng = random.Random(7)
    graph = Graph(store)
    for _ in range(16):
        graph.clear()
        edges = random_dag(rng, rng.randint(3, 25))
        rng.shuffle(edges)
        cuts = sorted(rng.sample(range(1, len(edges)), min(4, len(edges) - 1)))
        for i, j in zip([0, *cuts], [*cuts, len(edges)], strict=True):
            graph.add(edges[i:j])
        closure = graph.closure()
        assert closure == full_closure(edges)
        assert ORIGIN not in {h.since for h in closure.values()}
