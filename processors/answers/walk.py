"""``lineage upstream`` and ``downstream``: what a node was made from, and what it went into.

A walk goes level by level and remembers what it has seen, so it stops as soon as nothing
new appears. The edges it needs are asked for up front, in one read, for the nodes the
walk will most likely meet: the maintained closures (``model_upstream``) name them, since
everything above a node is in the closure of any model version built from it, and
everything below it that leads to a model version is in those versions' closures. Nodes
the closures did not name (a dead end, a closure not yet caught up with a new edge) are
asked for as the walk meets them, one query per level, so the answer never depends on the
closures being complete. The views ``upstream_of`` and ``downstream_of`` answer the same
in one SQL query.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from lineage_processors.answers.inputs import LATEST, sql_time
from lineage_processors.answers.runner import QueryRunner, Table
from lineage_processors.derive.walks import strings

Direction = Literal["up", "down"]

UP_COLUMNS = ["depth", "node", "kind", "relation", "role", "via", "since"]
DOWN_COLUMNS = UP_COLUMNS
# Closures of at most this many model versions below a node are read for a downstream
# walk: past it, their union holds more of other sources' lineage than of this node's.
HINT_MODELS = 100
# Characters of node names one query may carry: ClickHouse parses 256 KiB of SQL by
# default, and a read-only query may not raise that.
NAMES_PER_QUERY = 200_000


def chunks(nodes: list[str], size: int = NAMES_PER_QUERY) -> Iterator[list[str]]:
    """``nodes`` in runs whose names take at most ``size`` characters (one at least)."""
    run: list[str] = []
    used = 0
    for node in nodes:
        if run and used + len(node) + 3 > size:
            yield run
            run, used = [], 0
        run.append(node)
        used += len(node) + 3  # quotes and comma
    if run:
        yield run


@dataclass(frozen=True)
class Step:
    """An edge as a walk meets it: ``near`` is the side already reached."""

    near: str
    far: str
    relation: str
    role: str
    since: str  # ISO time the edge became true


# Each node asked about -> every edge on its near side (empty when it has none).
Known = dict[str, list[Step]]


def _hint(direction: Direction, starts: list[str]) -> str:
    """SQL naming the nodes a walk from ``starts`` will most likely meet."""
    names = strings(starts)
    if direction == "up":
        # A model version's own closure; for any other node, the closure of one model
        # version built from it, which holds everything above the node too.
        models = (
            f"SELECT arrayJoin({names}) UNION ALL SELECT any(model_node) FROM model_upstream "
            f"WHERE ancestor IN {names} GROUP BY ancestor"
        )
        return f"SELECT ancestor FROM model_upstream WHERE model_node IN ({models})"
    below = f"SELECT model_node FROM model_upstream WHERE ancestor IN {names}"
    return (
        f"{below} UNION ALL SELECT ancestor FROM model_upstream "
        f"WHERE model_node IN ({below} LIMIT {HINT_MODELS})"
    )


def _edges(direction: Direction, nodes: list[str] | str, relations: list[str]) -> str:
    """SQL for every edge on the near side of ``nodes`` (names, or a subquery naming them),
    as (near, far, relation, role, event_time), as of the ``as_of`` parameter."""
    near, far = ("dst", "src") if direction == "up" else ("src", "dst")
    only = f"AND relation IN {strings(relations)}" if relations else ""
    among = nodes if isinstance(nodes, str) else strings(nodes)
    # Upstream reads the table by its sort key (dst), downstream the by_src_role projection.
    return (
        f"SELECT {near}, {far}, relation, role, event_time FROM edges "
        f"WHERE {near} IN {among} AND event_time <= {{as_of:DateTime64(3, 'UTC')}} {only}"
    )


def _known(rows: Iterable[list[Any]], asked: Iterable[str]) -> Known:
    """Rows of :func:`_edges` for the nodes ``asked`` as :data:`Known`; an edge stored more
    than once (before merges) counts once, from its earliest time."""
    known: Known = {n: [] for n in asked}
    first: dict[tuple[str, str, str, str], str] = {}
    for near, far, relation, role, since in rows:
        key = (near, far, relation, role)
        if key not in first or since < first[key]:
            first[key] = since
    for (near, far, relation, role), since in first.items():
        known[near].append(Step(near, far, relation, role, since))
    return known


def prefetch(
    runner: QueryRunner,
    starts: list[str],
    direction: Direction,
    as_of: datetime,
    relations: list[str],
) -> Known:
    """Every edge of the nodes the closures say a walk from ``starts`` will meet: the
    closures' answer, then one read of the edges (two small queries rather than one that
    would evaluate the closure lookups twice)."""
    hint = _hint(direction, starts)
    named = sorted({r[0] for r in runner.run(hint).rows} | set(starts))
    if sum(len(n) + 3 for n in named) <= NAMES_PER_QUERY:
        return level(runner, named, direction, as_of, relations)
    # Too many to name within the SQL a read-only query may send: asked for by the hint.
    nodes = f"({hint} UNION ALL SELECT arrayJoin({strings(starts)}))"
    table = runner.run(_edges(direction, nodes, relations), {"as_of": sql_time(as_of)})
    return _known(table.rows, named)


def level(
    runner: QueryRunner,
    nodes: list[str],
    direction: Direction,
    as_of: datetime,
    relations: list[str],
) -> Known:
    """The edges one step ``direction`` from ``nodes`` (a query per few thousand)."""
    rows: list[list[Any]] = []
    for chunk in chunks(nodes, NAMES_PER_QUERY):
        rows += runner.run(_edges(direction, chunk, relations), {"as_of": sql_time(as_of)}).rows
    return _known(rows, nodes)


def walk(
    runner: QueryRunner,
    node: str | list[str],
    direction: Direction,
    depth: int,
    as_of: datetime = LATEST,
    relations: list[str] | None = None,
) -> tuple[dict[str, list[Any]], list[Step]]:
    """Every node within ``depth`` steps of ``node`` (or of any of several):
    {node: [depth, relation, role, via, since]}, and every edge met on the way."""
    starts = [node] if isinstance(node, str) else sorted(set(node))
    wanted = relations or []
    # One hop needs no more than the one query asking for it.
    known = prefetch(runner, starts, direction, as_of, wanted) if depth > 1 else {}
    reached: dict[str, list[Any]] = {}
    seen = set(starts)
    frontier = list(starts)
    since: dict[str, str] = {n: "" for n in starts}
    edges: list[Step] = []
    for d in range(1, depth + 1):
        if not frontier:
            break
        missing = [n for n in frontier if n not in known]
        if missing:
            known.update(level(runner, missing, direction, as_of, wanted))
        steps = [s for n in frontier for s in known[n]]
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
    _earliest(reached, edges, set(starts))
    return reached, edges


def _earliest(reached: dict[str, list[Any]], edges: list[Step], starts: set[str]) -> None:
    """Set each node's "since" to when some path to it was first true (over all the edges
    met, not only the shortest paths): relax until nothing changes."""
    since = {n: row[4] for n, row in reached.items()}
    since.update({s: "" for s in starts})
    changed = True
    while changed:
        changed = False
        for s in edges:
            if s.near not in since or s.far not in since or s.far in starts:
                continue
            when = max(s.since, since[s.near]) if since[s.near] else s.since
            if when < since[s.far]:
                since[s.far] = when
                changed = True
    for n, row in reached.items():
        row[4] = since[n]


def _table(reached: dict[str, list[Any]]) -> Table:
    rows = [
        [d, n, n.split(":", 1)[0], rel, role, via, when]
        for n, (d, rel, role, via, when) in reached.items()
    ]
    return Table(UP_COLUMNS, sorted(rows, key=lambda r: (r[0], r[1])))


def upstream(
    runner: QueryRunner,
    node: str,
    depth: int = 20,
    as_of: datetime = LATEST,
    relations: list[str] | None = None,
) -> Table:
    """Everything ``node`` was made from, nearest first."""
    return _table(walk(runner, node, "up", depth, as_of, relations)[0])


def downstream(
    runner: QueryRunner,
    node: str,
    depth: int = 20,
    as_of: datetime = LATEST,
    relations: list[str] | None = None,
) -> Table:
    """Everything made from ``node``, nearest first; ``role`` is the split role the edge
    that reached it gave (train, validation, ...), if any."""
    return _table(walk(runner, node, "down", depth, as_of, relations)[0])
