"""``lineage upstream`` and ``downstream``: what a node was made from, and what it went into.

A walk asks the store for one level at a time (upstream by ``dst``, the sort key of
``edges``; downstream by ``src``, its ``by_src`` projection) and remembers what it has seen,
so it stops as soon as nothing new appears: a few indexed reads, however dense the graph.
The views ``upstream_of`` and ``downstream_of`` answer the same in one SQL query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from processors.answers.inputs import LATEST, sql_time
from processors.query_runner import QueryRunner, Table
from processors.walks import strings

Direction = Literal["up", "down"]

UP_COLUMNS = ["depth", "node", "kind", "relation", "role", "via", "since"]
DOWN_COLUMNS = ["depth", "node", "kind", "relation", "via", "since"]


@dataclass(frozen=True)
class Step:
    """An edge as a walk meets it: ``near`` is the side already reached."""

    near: str
    far: str
    relation: str
    role: str
    since: str  # ISO time the edge became true


def level(
    runner: QueryRunner,
    nodes: list[str],
    direction: Direction,
    as_of: datetime,
    relations: list[str],
) -> list[Step]:
    """The edges one step ``direction`` from ``nodes``."""
    near, far = ("dst", "src") if direction == "up" else ("src", "dst")
    # The by_src projection holds no role: downstream walks do without it.
    role = "role" if direction == "up" else "''"
    only = f"AND relation IN {strings(relations)}" if relations else ""
    table = runner.run(
        f"SELECT {near}, {far}, relation, {role} AS r, min(event_time) FROM edges "
        f"WHERE {near} IN {strings(nodes)} AND event_time <= {{as_of:DateTime64(3, 'UTC')}} "
        f"{only} GROUP BY {near}, {far}, relation, r",
        {"as_of": sql_time(as_of)},
    )
    return [Step(*row) for row in table.rows]


def walk(
    runner: QueryRunner,
    node: str,
    direction: Direction,
    depth: int,
    as_of: datetime = LATEST,
    relations: list[str] | None = None,
) -> tuple[dict[str, list[Any]], list[Step]]:
    """Every node within ``depth`` steps: {node: [depth, relation, role, via, since]}, and
    every edge met on the way."""
    reached: dict[str, list[Any]] = {}
    seen = {node}
    frontier = [node]
    since: dict[str, str] = {node: ""}
    edges: list[Step] = []
    for d in range(1, depth + 1):
        if not frontier:
            break
        steps = level(runner, frontier, direction, as_of, relations or [])
        edges += steps
        new: dict[str, list[Any]] = {}
        for s in sorted(steps, key=lambda s: (s.far, s.near, s.relation, s.role)):
            if s.far in seen:
                continue
            when = max(s.since, since[s.near]) if since[s.near] else s.since
            row = new.get(s.far)
            if row is None:
                new[s.far] = [d, s.relation, s.role, s.near, when]
            elif when < row[4]:
                row[4] = when
        for n, row in new.items():
            seen.add(n)
            since[n] = row[4]
            reached[n] = row
        frontier = sorted(new)
    _earliest(reached, edges, node)
    return reached, edges


def _earliest(reached: dict[str, list[Any]], edges: list[Step], start: str) -> None:
    """Set each node's "since" to when some path to it was first true (over all the edges
    met, not only the shortest paths): relax until nothing changes."""
    since = {n: row[4] for n, row in reached.items()}
    since[start] = ""
    changed = True
    while changed:
        changed = False
        for s in edges:
            if s.near not in since or s.far not in since or s.far == start:
                continue
            when = max(s.since, since[s.near]) if since[s.near] else s.since
            if when < since[s.far]:
                since[s.far] = when
                changed = True
    for n, row in reached.items():
        row[4] = since[n]


def upstream(
    runner: QueryRunner,
    node: str,
    depth: int = 20,
    as_of: datetime = LATEST,
    relations: list[str] | None = None,
) -> Table:
    """Everything ``node`` was made from, nearest first."""
    reached, _ = walk(runner, node, "up", depth, as_of, relations)
    rows = [
        [d, n, n.split(":", 1)[0], rel, role, via, when]
        for n, (d, rel, role, via, when) in reached.items()
    ]
    return Table(UP_COLUMNS, sorted(rows, key=lambda r: (r[0], r[1])))


def downstream(
    runner: QueryRunner,
    node: str,
    depth: int = 20,
    as_of: datetime = LATEST,
    relations: list[str] | None = None,
) -> Table:
    """Everything made from ``node``, nearest first."""
    reached, _ = walk(runner, node, "down", depth, as_of, relations)
    rows = [
        [d, n, n.split(":", 1)[0], rel, via, when]
        for n, (d, rel, _role, via, when) in reached.items()
    ]
    return Table(DOWN_COLUMNS, sorted(rows, key=lambda r: (r[0], r[1])))
