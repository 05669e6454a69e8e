"""``model_upstream``: everything each model version was built from, kept transitive.

After each stored batch, every path through one of its new edges X -> Y is a path from an
ancestor A of X (or X itself) to a model M downstream of Y (or Y itself):
``A ->* X -> Y ->* M``. So the batch's new pairs are (M, A) for those, with the shortest
depth ``d(Y, M) + 1 + d(A, X)`` and the earliest "since" ``max(since(Y, M), t, since(A, X))``,
both read off walks of the stored edges. A late edge extending a chain that already ends in
a model adds its whole upstream to that model; pairs already stored as good are not written
again. Walks read the stored graph, which holds the batch's own edges by now, so chains
that arrive within one batch are found too.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from processors.mapping import RowBatch
from processors.store.connect import Store
from processors.walks import (
    LARGE_QUERY,
    NAMED_NODES,
    Adjacency,
    Edge,
    Hop,
    adjacency,
    among,
    fetch,
    insert,
    new_edges,
    reach,
    written,
)

UPSTREAM_COLUMNS = ("model_node", "ancestor", "depth", "since")

Pair = tuple[str, str]  # (model version, ancestor)


def closure_pairs(
    edges: Iterable[Edge],
    down: Mapping[str, Mapping[str, Hop]],
    up: Mapping[str, Mapping[str, Hop]],
) -> dict[Pair, Hop]:
    """The (model, ancestor) pairs that paths through ``edges`` make.

    ``down[Y]`` is what is reachable downstream of each edge's Y, ``up[X]`` upstream of its
    X, both including the node itself at depth 0.
    """
    out: dict[Pair, Hop] = {}
    models_below: dict[str, list[tuple[str, int, int]]] = {}
    for src, dst, when in edges:
        models = models_below.get(dst)
        if models is None:
            models = models_below[dst] = [
                (m, d, s) for m, (d, s) in down[dst].items() if m.startswith("model:")
            ]
        for ancestor, (ad, asince) in up[src].items():
            for model, md, msince in models:
                if ancestor == model:
                    continue  # a cycle back to the model
                depth, since = md + 1 + ad, max(msince, when, asince)
                old = out.get((model, ancestor))
                if old is None or depth < old.depth or since < old.since:
                    if old is not None:
                        depth, since = min(old.depth, depth), min(old.since, since)
                    out[(model, ancestor)] = Hop(depth, since)
    return out


def improvements(
    found: Mapping[Pair, Hop], stored: Mapping[Pair, Hop]
) -> list[tuple[str, str, int, int]]:
    """Rows to write: pairs not stored yet, or now reached shorter or earlier."""
    rows = []
    for (model, ancestor), hop in sorted(found.items()):
        old = stored.get((model, ancestor))
        if old is None:
            rows.append((model, ancestor, hop.depth, hop.since))
        elif hop.depth < old.depth or hop.since < old.since:
            rows.append((model, ancestor, min(hop.depth, old.depth), min(hop.since, old.since)))
    return rows


def stored_pairs(
    store: Store, pairs: Iterable[Pair], subquery: str = "", known: Collection[str] = ()
) -> dict[Pair, Hop]:
    """What ``model_upstream`` holds for ``pairs``, merged. Models among ``known`` are asked
    for by ``subquery`` (see :func:`among`)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    # By model only, the sort key's prefix; the pairs are picked out here. (A tuple IN over
    # an array is orders of magnitude slower in ClickHouse.)
    models = among("model_node", {m for m, _ in wanted}, subquery, known)
    result = store.query(
        "SELECT model_node, ancestor, min(depth), toUnixTimestamp64Milli(min(since)) "
        f"FROM model_upstream WHERE {models} GROUP BY model_node, ancestor",
        settings=LARGE_QUERY,
    )
    return {(m, a): Hop(int(d), int(s)) for m, a, d, s in result.result_rows if (m, a) in wanted}


def write(
    store: Store, found: Mapping[Pair, Hop], subquery: str = "", known: Collection[str] = ()
) -> int:
    rows = improvements(found, stored_pairs(store, found, subquery, known))
    insert(store, "model_upstream", UPSTREAM_COLUMNS, list(rows))
    return len(rows)


def below(new: Iterable[Edge], down_adj: Adjacency) -> tuple[dict[str, dict[str, Hop]], list[Edge]]:
    """What lies downstream of each new edge, and the edges with a model there: only those
    can change a closure."""
    down = {y: reach(down_adj, y) for y in {e.dst for e in new}}
    with_model = {y for y, nodes in down.items() if any(n.startswith("model:") for n in nodes)}
    return down, [e for e in new if e.dst in with_model]


def new_pairs(new: list[Edge], down_adj: Adjacency, up_adj: Adjacency) -> dict[Pair, Hop]:
    """The pairs paths through ``new`` edges make, given the graph around them."""
    down, relevant = below(new, down_adj)
    up = {x: reach(up_adj, x) for x in {e.src for e in relevant}}
    return closure_pairs(relevant, down, up)


def extend_closures(store: Store, batch: RowBatch) -> None:
    """After-write step: add to ``model_upstream`` what the batch's new edges make reachable."""
    where = written(batch)
    new = new_edges(store, batch, where)
    if not new:
        return
    dsts = {e.dst for e in new}
    first = f"SELECT dst FROM edges WHERE {where}" if len(dsts) > NAMED_NODES else ""
    down, relevant = below(new, adjacency(fetch(store, dsts, "down", first=first), "down"))
    if not relevant:
        return  # most batches of transformations: no model below them yet
    sources = {e.src for e in relevant}
    # The batch's sources by subquery are a superset of these: more walking, less parsing.
    first = f"SELECT src FROM edges WHERE {where}" if len(sources) > NAMED_NODES else ""
    up_adj = adjacency(fetch(store, sources, "up", first=first), "up")
    found = closure_pairs(relevant, down, {x: reach(up_adj, x) for x in sources})
    write(store, found, f"SELECT dst FROM edges WHERE {where}", dsts)
