"""Reach over edges is a pure function: depths, minimax "since" times, refused steps."""

from __future__ import annotations

from lineage_processors.derive.walks import ORIGIN, Edge, Hop, adjacency, reach


def test_depth_is_the_shortest_path_and_since_the_earliest_true_path() -> None:
    # a -> b -> d became true at 5 (its a -> b edge is late); a -> c -> d already at 3.
    edges = [Edge("a", "b", 5), Edge("b", "d", 1), Edge("a", "c", 2), Edge("c", "d", 3)]
    down = reach(adjacency(edges, "down"), "a")
    assert down == {"a": Hop(0, ORIGIN), "b": Hop(1, 5), "c": Hop(1, 2), "d": Hop(2, 3)}
    up = reach(adjacency(edges, "up"), "d")
    assert up == {"d": Hop(0, ORIGIN), "b": Hop(1, 1), "c": Hop(1, 3), "a": Hop(2, 3)}


def test_a_longer_path_can_be_the_earlier_one() -> None:
    edges = [Edge("a", "z", 9), Edge("a", "b", 1), Edge("b", "c", 1), Edge("c", "z", 1)]
    assert reach(adjacency(edges, "down"), "a")["z"] == Hop(1, 1)


def test_cycles_end_and_depth_is_bounded() -> None:
    edges = [Edge("a", "b", 1), Edge("b", "c", 2), Edge("c", "a", 3)]
    assert reach(adjacency(edges, "down"), "a") == {
        "a": Hop(0, ORIGIN),
        "b": Hop(1, 1),
        "c": Hop(2, 2),
    }
    assert set(reach(adjacency(edges, "down"), "a", max_depth=1)) == {"a", "b"}


def test_refused_steps_are_not_taken() -> None:
    edges = [Edge("a", "m", 1), Edge("m", "x", 1), Edge("a", "y", 1), Edge("y", "x", 7)]
    hops = reach(adjacency(edges, "down"), "a", follow=lambda src, dst: src != "m")
    assert hops == {"a": Hop(0, ORIGIN), "m": Hop(1, 1), "y": Hop(1, 1), "x": Hop(2, 7)}
