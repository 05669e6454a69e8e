"""Tag impacts are pure functions of edges and masking: reach, stops, retraction, upkeep."""

from __future__ import annotations

import random

from lineage_processors.derive.tag_impacts import (
    NO_MASKING,
    Impact,
    Masking,
    TagKey,
    TagState,
    carried,
    changed_rows,
    impacts_of,
    refreshed,
)
from lineage_processors.derive.walks import Edge, adjacency

KEY: TagKey = ("source:crm", "pii", "INC-1")

GRAPH = [
    Edge("source:crm", "dataset:raw", 1),
    Edge("dataset:raw", "run:clean", 1),
    Edge("run:clean", "dataset:clean", 1),
    Edge("dataset:clean", "run:anon", 1),
    Edge("run:anon", "dataset:anon", 1),
    Edge("dataset:anon", "run:train-e", 1),
    Edge("run:train-e", "model:e", 1),
    Edge("dataset:clean", "run:train-d", 1),
    Edge("run:train-d", "model:d", 1),
    Edge("model:d", "deployment:prod", 1),
]


def test_a_tag_reaches_everything_downstream_but_not_past_a_masking_run() -> None:
    masking = Masking(frozenset({"run:anon"}), frozenset())
    assert impacts_of(adjacency(GRAPH, "down"), "source:crm", "source:crm", masking) == {
        "source:crm": 0,
        "dataset:raw": 1,
        "run:clean": 2,
        "dataset:clean": 3,
        "run:anon": 4,
        "run:train-d": 4,
        "model:d": 5,
        "deployment:prod": 6,
    }
    everything = impacts_of(adjacency(GRAPH, "down"), "source:crm", "source:crm", NO_MASKING)
    assert {"dataset:anon", "model:e"} <= set(everything)


def test_column_masking_stops_one_output_of_a_run() -> None:
    edges = [
        Edge("dataset:in", "run:ol", 1),
        Edge("run:ol", "dataset:masked", 1),
        Edge("run:ol", "dataset:plain", 1),
    ]
    masking = Masking(frozenset(), frozenset({("run:ol", "dataset:masked")}))
    assert set(impacts_of(adjacency(edges, "down"), "dataset:in", "dataset:in", masking)) == {
        "dataset:in",
        "run:ol",
        "dataset:plain",
    }


def test_a_tag_on_the_masking_run_itself_reaches_its_outputs() -> None:
    masking = Masking(frozenset({"run:anon"}), frozenset())
    assert impacts_of(adjacency(GRAPH, "down"), "run:anon", "run:anon", masking) == {
        "run:anon": 0,
        "dataset:anon": 1,
        "run:train-e": 2,
        "model:e": 3,
    }


def test_retraction_keeps_every_impact_inactive_and_writes_only_changes() -> None:
    stored = {
        "source:crm": Impact(0, 10, 20, True),
        "model:d": Impact(5, 10, 20, True),
    }
    retracted = refreshed(TagState(10, 20, False), {}, stored)
    assert retracted == {
        "source:crm": Impact(0, 10, 20, False),
        "model:d": Impact(5, 10, 20, False),
    }
    assert changed_rows(KEY, retracted, stored) == [
        (*KEY, "model:d", "model", 5, 10, 20, 0),
        (*KEY, "source:crm", "source", 0, 10, 20, 0),
    ]
    assert changed_rows(KEY, stored, stored) == []
    # In force again, with a new window: every impact rewritten.
    again = refreshed(TagState(None, 30, True), {"source:crm": 0}, retracted)
    assert changed_rows(KEY, again, retracted) == [(*KEY, "source:crm", "source", 0, None, 30, 1)]


def test_a_longer_path_found_later_keeps_the_shorter_depth() -> None:
    stored = {"model:d": Impact(3, None, None, True)}
    assert changed_rows(KEY, {"model:d": Impact(5, None, None, True)}, stored) == []


def test_impacts_kept_up_edge_batch_by_edge_batch_equal_a_fresh_walk() -> None:
    rng = random.Random(11)
    for _ in range(60):
        size = rng.randint(3, 25)
        kinds = ["dataset", "run", "run", "model", "deployment"]
        nodes = [f"{rng.choice(kinds)}:n{i}" for i in range(size)]
        edges = sorted(
            {
                Edge(nodes[a], nodes[b], 1)
                for a, b in (sorted(rng.sample(range(size), 2)) for _ in range(size * 2))
            }
        )
        runs = [n for n in nodes if n.startswith("run:")]
        masking = Masking(
            frozenset(rng.sample(runs, len(runs) // 3)),
            frozenset((e.src, e.dst) for e in edges if e.src in runs and rng.random() < 0.2),
        )
        tagged = rng.choice(nodes)
        rng.shuffle(edges)
        first, rest = edges[: len(edges) // 2], edges[len(edges) // 2 :]
        # The tag arrives after the first half of the graph and is walked in full then...
        graph = list(first)
        state = {
            n: Impact(d, None, None, True)
            for n, d in impacts_of(adjacency(graph, "down"), tagged, tagged, masking).items()
        }
        # ...then the rest arrives in small batches, each carrying the tag on.
        for i in range(0, len(rest), 3):
            batch = rest[i : i + 3]
            graph += batch
            at = {n: {(tagged, "t", ""): impact} for n, impact in state.items()}
            found = carried(batch, at, adjacency(graph, "down"), masking)
            for node, impact in found.get((tagged, "t", ""), {}).items():
                if node not in state or impact.depth < state[node].depth:
                    state[node] = impact
        fresh = impacts_of(adjacency(edges, "down"), tagged, tagged, masking)
        assert {n: i.depth for n, i in state.items()} == fresh
