"""Model closures kept up edge batch by edge batch equal closures walked from scratch."""

from __future__ import annotations

import random

from processors.closure import Pair, closure_pairs, improvements, new_pairs
from processors.walks import ORIGIN, Adjacency, Edge, Hop, adjacency, reach


def full_closure(models: set[str], up_adj: Adjacency) -> dict[Pair, Hop]:
    """The closures of ``models``, walked from scratch: what the upkeep must equal."""
    return {
        (model, node): hop
        for model in models
        for node, hop in reach(up_adj, model).items()
        if node != model
    }


def apply(stored: dict[Pair, Hop], rows: list[tuple[str, str, int, int]]) -> None:
    """What model_upstream's min() merges make of written rows."""
    for model, ancestor, depth, since in rows:
        old = stored.get((model, ancestor))
        if old is not None:
            depth, since = min(depth, old.depth), min(since, old.since)
        stored[(model, ancestor)] = Hop(depth, since)


def incremental(batches: list[list[Edge]]) -> dict[Pair, Hop]:
    stored: dict[Pair, Hop] = {}
    graph: list[Edge] = []
    for batch in batches:
        graph += batch  # the step runs after the batch is stored
        found = new_pairs(batch, adjacency(graph, "down"), adjacency(graph, "up"))
        apply(stored, improvements(found, stored))
    return stored


def test_late_edge_adds_its_source_and_the_sources_ancestors() -> None:
    chain = [Edge("dataset:raw", "run:t", 1), Edge("run:t", "dataset:clean", 1)]
    train = [Edge("dataset:clean", "run:r", 2), Edge("run:r", "model:m", 2)]
    elsewhere = [Edge("source:s", "dataset:legacy", 0)]
    late = [Edge("dataset:legacy", "run:l", 5), Edge("run:l", "dataset:raw", 5)]
    closure = incremental([elsewhere, chain, train, late])
    assert closure == {
        ("model:m", "run:r"): Hop(1, 2),
        ("model:m", "dataset:clean"): Hop(2, 2),
        ("model:m", "run:t"): Hop(3, 2),
        ("model:m", "dataset:raw"): Hop(4, 2),
        ("model:m", "run:l"): Hop(5, 5),
        ("model:m", "dataset:legacy"): Hop(6, 5),
        ("model:m", "source:s"): Hop(7, 5),
    }


def test_pairs_already_stored_as_good_are_not_written_again() -> None:
    edges = [Edge("dataset:d", "run:r", 1), Edge("run:r", "model:m", 1)]
    graph_down, graph_up = adjacency(edges, "down"), adjacency(edges, "up")
    found = new_pairs(edges, graph_down, graph_up)
    stored = dict(found)
    assert improvements(found, stored) == []
    # A shorter or an earlier path is written, merged with what is stored.
    stored[("model:m", "dataset:d")] = Hop(2, 0)
    stored[("model:m", "run:r")] = Hop(1, 7)
    assert improvements(found, stored) == [("model:m", "run:r", 1, 1)]


def test_edges_without_a_model_below_change_nothing() -> None:
    edges = [Edge("dataset:a", "run:t", 1), Edge("run:t", "dataset:b", 1)]
    assert new_pairs(edges, adjacency(edges, "down"), adjacency(edges, "up")) == {}


def test_a_cycle_back_to_the_model_is_not_its_own_ancestor() -> None:
    edges = [Edge("model:m", "run:r", 1), Edge("run:r", "model:m", 1)]
    down = {"run:r": reach(adjacency(edges, "down"), "run:r")}
    up = {"model:m": reach(adjacency(edges, "up"), "model:m")}
    assert ("model:m", "model:m") not in closure_pairs([edges[0]], down, up)
    assert full_closure({"model:m"}, adjacency(edges, "up")) == {("model:m", "run:r"): Hop(1, 1)}


def random_dag(rng: random.Random, size: int) -> list[Edge]:
    kinds = ["source", "dataset", "run", "dataset", "run", "model", "deployment"]
    nodes = [f"{rng.choice(kinds)}:n{i}" for i in range(size)]
    edges = set()
    for _ in range(size * 2):
        a, b = sorted(rng.sample(range(size), 2))
        edges.add(Edge(nodes[a], nodes[b], rng.randint(0, 50)))
    return sorted(edges)


def test_incremental_upkeep_equals_the_closure_walked_from_scratch() -> None:
    rng = random.Random(7)
    for _ in range(60):
        edges = random_dag(rng, rng.randint(3, 25))
        rng.shuffle(edges)
        cuts = sorted(rng.sample(range(1, len(edges)), min(4, len(edges) - 1)))
        batches = [edges[i:j] for i, j in zip([0, *cuts], [*cuts, len(edges)], strict=True)]
        models = {n for e in edges for n in (e.src, e.dst) if n.startswith("model:")}
        assert incremental(batches) == full_closure(models, adjacency(edges, "up"))
        assert ORIGIN not in {h.since for h in incremental(batches).values()}
