"""`lineage graph`'s pictures, drawn from a neighbourhood of edges: DOT and Mermaid text (a
real graph is drawn end to end in tests/processors/answers/test_commands.py)."""

from __future__ import annotations

from lineage_processors.cli.graph import to_dot, to_mermaid, to_svg

CENTER = "model:m@1"
EDGES = [
    ("dataset:d@v1", "run:r1", "input"),
    ("run:r1", CENTER, "output"),
    ('source:a "quoted"', "dataset:d@v1", "extracted"),
]


def test_dot_draws_each_node_once_by_kind_and_the_center_apart() -> None:
    dot = to_dot(CENTER, EDGES).splitlines()
    assert dot[:2] == ["digraph lineage {", "  rankdir=LR;"]
    assert '  "model:m@1" [shape=doubleoctagon, fillcolor="#ffd966", penwidth=2];' in dot
    assert '  "dataset:d@v1" [shape=folder];' in dot
    assert '  "source:a \\"quoted\\"" [shape=cylinder];' in dot
    assert '  "run:r1" -> "model:m@1" [label="output"];' in dot
    assert sum(line.startswith('  "run:r1" [') for line in dot) == 1
    assert dot[-1] == "}"


def test_mermaid_names_nodes_by_position_and_keeps_labels_readable() -> None:
    text = to_mermaid(CENTER, EDGES).splitlines()
    assert text[0] == "flowchart LR"
    assert '  n3["source:a #quot;quoted#quot;"]' in text
    assert "  n2 -->|output| n1" in text
    assert text[-1] == "  style n1 fill:#ffd966,stroke-width:2px"


def test_a_lone_node_is_a_picture_too() -> None:
    assert '"model:m@1" [shape=doubleoctagon' in to_dot(CENTER, [])
    assert to_mermaid(CENTER, []).splitlines()[1] == '  n0["model:m@1"]'


def test_svg_is_drawn_by_graphviz() -> None:
    # Graphviz comes with `make setup`; without it this fails saying how to install it.
    assert "<svg" in to_svg(to_dot(CENTER, EDGES))
