"""``lineage graph``: a picture of the lineage around a node, as DOT, Mermaid or SVG.

The edges within ``depth`` steps upstream and downstream of the node (the walks of
``lineage upstream`` and ``downstream``), drawn left to right in the direction data flows.
SVG is drawn by Graphviz's ``dot``, which `make` installs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from datetime import datetime

from lineage_collector.ids import parse_node_id
from lineage_processors.answers.inputs import LATEST, check_depth, parse_time, require_node
from lineage_processors.answers.runner import QueryRunner, query_runner
from lineage_processors.answers.walk import Direction, walk
from lineage_processors.cli.command import NODE_HELP, TIME_NOTE, Add
from lineage_processors.cli.output import write_out
from lineage_processors.errors import ProcessorError
from lineage_processors.settings import WorkerSettings

PICTURE_FORMATS = ("svg", "dot", "mermaid")
SHAPES = {
    "source": "cylinder",
    "dataset": "folder",
    "job": "component",
    "run": "box",
    "model": "doubleoctagon",
    "deployment": "house",
}
EdgeRow = tuple[str, str, str]  # src, dst, relation


def neighbourhood(
    runner: QueryRunner, node: str, depth: int, as_of: datetime = LATEST
) -> tuple[str, list[EdgeRow]]:
    """The node id and the edges within ``depth`` steps of it, each once, sorted."""
    node_id = require_node(runner, node)
    edges: set[EdgeRow] = set()
    directions: tuple[Direction, ...] = ("up", "down")
    for direction in directions:
        _, steps = walk(runner, node_id, direction, depth, as_of)
        for s in steps:
            src, dst = (s.far, s.near) if direction == "up" else (s.near, s.far)
            edges.add((src, dst, s.relation))
    return node_id, sorted(edges)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(center: str, edges: list[EdgeRow]) -> str:
    nodes = sorted({center} | {e[0] for e in edges} | {e[1] for e in edges})
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10, style=filled, fillcolor="#f4f4f4"];',
        '  edge [fontname="Helvetica", fontsize=8, color="#666666"];',
    ]
    for n in nodes:
        kind = n.split(":", 1)[0]
        extra = ', fillcolor="#ffd966", penwidth=2' if n == center else ""
        lines.append(f"  {_quote(n)} [shape={SHAPES.get(kind, 'ellipse')}{extra}];")
    for src, dst, relation in edges:
        lines.append(f"  {_quote(src)} -> {_quote(dst)} [label={_quote(relation)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(center: str, edges: list[EdgeRow]) -> str:
    nodes = sorted({center} | {e[0] for e in edges} | {e[1] for e in edges})
    ids = {n: f"n{i}" for i, n in enumerate(nodes)}
    lines = ["flowchart LR"]
    for n in nodes:
        label = n.replace('"', "#quot;")
        lines.append(f'  {ids[n]}["{label}"]')
    for src, dst, relation in edges:
        lines.append(f"  {ids[src]} -->|{relation}| {ids[dst]}")
    lines.append(f"  style {ids[center]} fill:#ffd966,stroke-width:2px")
    return "\n".join(lines) + "\n"


def to_svg(dot_source: str) -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise ProcessorError(
            "Graphviz's `dot` is not installed, so no SVG can be drawn: run `make setup` "
            "(or apt-get install graphviz), or ask for --format dot or mermaid"
        )
    done = subprocess.run(
        [dot, "-Tsvg"], input=dot_source, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise ProcessorError(f"Graphviz's dot failed: {done.stderr.strip()[:500]}")
    return done.stdout


def picture(
    runner: QueryRunner, node: str, fmt: str = "svg", depth: int = 3, as_of: datetime = LATEST
) -> str:
    """The lineage within ``depth`` steps of ``node`` as it was at ``as_of``, in ``fmt``."""
    center, edges = neighbourhood(runner, node, depth, as_of)
    if fmt == "mermaid":
        return to_mermaid(center, edges)
    source = to_dot(center, edges)
    return source if fmt == "dot" else to_svg(source)


def cmd_graph(settings: WorkerSettings, args: argparse.Namespace) -> int:
    parse_node_id(args.node)  # bad input is said before the store is looked for
    check_depth(args.depth)
    as_of = parse_time("--as-of", args.as_of)
    with query_runner(settings) as runner:
        text = picture(runner, args.node, args.format, args.depth, as_of)
    return write_out(text, args.output)


def register(add: Add) -> None:
    """Add ``lineage graph`` to the ``lineage`` parser."""
    graph = add(
        "graph",
        cmd_graph,
        "A picture of the lineage around NODE: SVG (drawn by Graphviz), DOT or Mermaid.",
    )
    graph.add_argument("node", metavar="NODE", help=NODE_HELP)
    graph.add_argument("--format", choices=PICTURE_FORMATS, default="svg")
    graph.add_argument("--depth", type=int, default=3, help="hops each way (default 3)")
    graph.add_argument("--as-of", metavar="TIME", help=f"the graph as it was then ({TIME_NOTE})")
    graph.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
