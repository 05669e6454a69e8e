"""Walks over the stored edge graph, for the tag impacts derived from it.

Edges point downstream: ``src`` was used to make ``dst``. A walk reads the edges of a whole
frontier per query (upstream by ``dst``, the sort key of ``edges``; downstream by ``src``,
its ``by_src`` projection), so a walk of depth d costs d indexed reads however wide it is.
Who reaches what, how far and since when is then worked out here from those edges, by pure
functions.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Literal, NamedTuple

from lineage_processors.store.connect import Store

# Deep enough for any real pipeline; also what stops a walk around a cycle.
MAX_DEPTH = 100
# The "since" of a walk's start: earlier than any edge, so max() over a path ignores it.
ORIGIN = -(1 << 62)

Direction = Literal["up", "down"]


# Named tuples, not dataclasses: a batch makes tens of thousands, sorted and hashed in C.
class Edge(NamedTuple):
    src: str
    dst: str
    time: int  # epoch milliseconds: when the edge became true


class Hop(NamedTuple):
    """How a node is reached: the shortest path's length, and when the first path was true."""

    depth: int
    since: int  # epoch milliseconds; the latest edge of the path that was true first


def kind_of(node: str) -> str:
    return node.split(":", 1)[0]


# The condition on edges that leaves out those of runs that failed or were aborted: such a run
# made nothing, so its inputs and outputs are history, not lineage.
LIVE = "run_id NOT IN (SELECT run_id FROM failed_runs)"
FAILED_STATES = "('FAILED', 'FAIL', 'ABORT', 'ABORTED')"


def new_edges(store: Store, where: str) -> list[Edge]:
    """The edges stored from the offsets ``where`` matches (see
    :func:`lineage_processors.derive.state.stored_from`), each once; none of a failed run."""
    result = store.query(
        "SELECT DISTINCT src, dst, toUnixTimestamp64Milli(event_time) FROM edges "
        f"WHERE {where} AND {LIVE}",
        settings=LARGE_QUERY,
    )
    return sorted(Edge(src, dst, int(when)) for src, dst, when in result.result_rows)


def newly_failed(store: Store, where: str) -> str:
    """SQL naming the run nodes said to have failed or been aborted by the rows stored from
    the offsets ``where`` matches: derived state built through them is to be built again."""
    return (
        "SELECT DISTINCT node_id FROM properties "
        f"WHERE {where} AND key = 'status' AND value IN {FAILED_STATES}"
    )


# For queries that carry such literals: ClickHouse parses at most 256 KiB of SQL by default.
LARGE_QUERY = {"max_query_size": 1 << 28}


def quote(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def strings(values: Iterable[str]) -> str:
    """A ClickHouse array literal of ``values``, for ``x IN <it>``.

    Sets of node ids run to tens of thousands per batch; as query parameters the client
    escapes them a character at a time, which costs more than the query.
    """
    return "[" + ",".join(map(quote, values)) + "]"


# Frontiers larger than this are asked of the store by subquery rather than named: the
# store finds them faster than it parses them.
NAMED_NODES = 2000


def fetch(
    store: Store,
    starts: Collection[str],
    direction: Direction,
    max_depth: int = MAX_DEPTH,
) -> list[Edge]:
    """Every edge within ``max_depth`` steps of ``starts``, walking ``direction``.

    Large frontiers are asked for by nesting the previous step's query; they then include
    nodes already seen, which costs a few more edges read, not more steps.
    """
    key, other = ("dst", "src") if direction == "up" else ("src", "dst")
    sql = (
        f"SELECT src, dst, toUnixTimestamp64Milli(event_time) FROM edges WHERE {LIVE} AND {key} IN "
    )
    seen = set(starts)
    frontier = sorted(seen)
    nodes = strings(frontier)
    found: set[Edge] = set()
    for _ in range(max_depth):
        if not frontier:
            break
        step: set[str] = set()
        for src, dst, when in store.query(sql + nodes, settings=LARGE_QUERY).result_rows:
            found.add(Edge(src, dst, int(when)))
            nxt = src if direction == "up" else dst
            if nxt not in seen:
                seen.add(nxt)
                step.add(nxt)
        frontier = sorted(step)
        if len(frontier) > NAMED_NODES:
            nodes = f"(SELECT {other} FROM edges WHERE {LIVE} AND {key} IN {nodes})"
        else:
            nodes = strings(frontier)
    return sorted(found)


Adjacency = Mapping[str, list[tuple[str, int]]]


def adjacency(edges: Iterable[Edge], direction: Direction) -> dict[str, list[tuple[str, int]]]:
    """Each node's neighbours one step ``direction``, with the time of the edge to them."""
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for e in edges:
        if direction == "down":
            out[e.src].append((e.dst, e.time))
        else:
            out[e.dst].append((e.src, e.time))
    return out


def reach(
    adj: Adjacency,
    start: str,
    max_depth: int = MAX_DEPTH,
    follow: Callable[[str, str], bool] | None = None,
) -> dict[str, Hop]:
    """Every node reachable from ``start`` (itself included, at depth 0).

    ``depth`` is the shortest path's length. ``since`` is when the node first became
    reachable: a path is true from its latest edge on, and the node from its earliest path
    (a minimax path, found Dijkstra's way). ``follow(a, b)`` may refuse a step.
    """
    first = adj.get(start)
    if first is None:
        return {start: Hop(0, ORIGIN)}  # most walks of a batch end where they start
    if follow is not None:
        first = [(n, t) for n, t in first if follow(start, n)]
    if all(n not in adj for n, _ in first):
        # One step and done, the usual shape (run -> model): no search needed.
        near: dict[str, Hop] = {start: Hop(0, ORIGIN)}
        for n, t in first:
            hop = near.get(n)
            if n != start and (hop is None or t < hop.since):
                near[n] = Hop(1, t)
        return near
    none: list[tuple[str, int]] = []
    if follow is None:

        def steps(node: str) -> list[tuple[str, int]]:
            return adj.get(node, none)

    else:

        def steps(node: str) -> list[tuple[str, int]]:
            return [(n, t) for n, t in adj.get(node, none) if follow(node, n)]

    depth = {start: 0}
    frontier = [start]
    for level in range(1, max_depth + 1):
        if not frontier:
            break
        step = []
        for node in frontier:
            for nxt, _ in steps(node):
                if nxt not in depth:
                    depth[nxt] = level
                    step.append(nxt)
        frontier = step
    since = {start: ORIGIN}
    heap = [(ORIGIN, start)]
    while heap:
        when, node = heapq.heappop(heap)
        if when > since[node]:
            continue
        for nxt, edge_time in steps(node):
            if nxt in depth:
                cand = max(when, edge_time)
                if nxt not in since or cand < since[nxt]:
                    since[nxt] = cand
                    heapq.heappush(heap, (cand, nxt))
    return {node: Hop(d, since[node]) for node, d in depth.items()}


def insert(store: Store, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert derived rows; a refusal is a StoreError, so the step is retried."""
    if rows:
        store.insert_rows(table, rows, columns)
