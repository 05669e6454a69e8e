"""``model_upstream``: everything each model version was built from, kept transitive.

After each run of stored rows, the closures that can change are those of the models below the
run's new edges: a pair (M, A) is new, or shorter or earlier, only through a path
``A ->* X -> Y ->* M`` over a new edge X -> Y. The pairs are found from whichever side has
fewer starts:

- From the edges: a walk down from the ends Y to the models, one up from the sources X to
  their ancestors, joined over the edges into pairs with the shortest depth
  ``d(Y, M) + 1 + d(A, X)`` and the earliest "since" ``max(since(Y, M), t, since(A, X))``.
  The way for a few edges above many models, a late edge high in a pipeline, say.
- From the models: each one's whole upstream walked again. The way for many edges above few
  models: every run of an OpenLineage job reads and writes the same dataset nodes (one per
  table, not per version), so walked from the edges each new run reached every earlier run,
  rows growing with the square of the history.

Either way only pairs that improve on what is stored are written. A walk from the edges
enters only nodes that lead to a model (below the new edges, and above a model found there);
with no model below the new edges, or none in the store at all, there is nothing to walk.
The walks read the stored graph, which holds the run's own edges by now, so chains that
arrive together are found too.

All of it runs inside ClickHouse, in temporary tables of the store's session, ending in one
``INSERT ... SELECT`` of the improving pairs. Python only sends the statements: a run costs a
few dozen of them, whether it holds ten edges or ten thousand, where walking in Python cost
tens of microseconds per edge.

A walk keeps, per start, each node reached with its shortest depth and earliest since. Both
are path minima (of a sum, and of a max), so relaxing them together, Bellman-Ford's way,
settles both: each step extends only the rows the previous step improved, and stops when a
step improves nothing (a cycle never improves, so it ends there too).
"""

from __future__ import annotations

from lineage_processors.derive.state import Ranges, stored_from
from lineage_processors.derive.walks import (
    LARGE_QUERY,
    LIVE,
    MAX_DEPTH,
    ORIGIN,
    Direction,
    newly_failed,
    strings,
)
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import INSERT_SETTINGS

NEW = "closure_new"  # the run's edges
WALKS: dict[Direction, str] = {"down": "closure_down", "up": "closure_up"}
STEP = "closure_step"  # a walk's step, before it is checked against the walk
BELOW = "closure_below"  # every node below the run's edges
LEADING = "closure_leading"  # those of them above a model: all the walk down needs
TABLES = {
    NEW: "src String, dst String, t Int64",
    STEP: "start String, node String, depth UInt32, since Int64",
    BELOW: "step UInt32, node String",
    LEADING: "step UInt32, node String",
}
for _walk in WALKS.values():
    # step: the walk's step that found the row; depth and since as in walks.Hop.
    TABLES[_walk] = "step UInt32, start String, node String, depth UInt32, since Int64"


def _create(store: Store) -> None:
    # Memory tables of the session: a worker's own, gone with it, none left by a crash.
    for table, columns in TABLES.items():
        store.command(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} ({columns}) ENGINE = Memory")
        store.command(f"TRUNCATE TABLE {table}")


def _empty(store: Store) -> None:
    # A walk can hold many rows: not kept in memory until the next run.
    for table in TABLES:
        store.command(f"TRUNCATE TABLE {table}")


def _count(store: Store, sql: str) -> int:
    return int(store.query(f"SELECT count() FROM ({sql})").result_rows[0][0])


def improving(key: str, found: str, held: str) -> str:
    """SELECT of the rows of ``found`` that improve on ``held`` for their ``key``: a key
    held not at all, or now reached shorter or earlier; each merged with what is held.

    Both are subqueries yielding ``key``'s columns, ``depth`` and ``since``, several rows
    per key allowed: one GROUP BY over both costs less than joining them.
    """
    return f"""
        SELECT {key}, min(d) AS depth, min(s) AS since
        FROM (
            SELECT {key}, depth AS d, since AS s, 1 AS found FROM ({found})
            UNION ALL
            SELECT {key}, depth, since, 0 FROM ({held})
        )
        GROUP BY {key}
        HAVING max(found) = 1 AND (
            min(found) = 1
            OR minIf(d, found = 1) < minIf(d, found = 0)
            OR minIf(s, found = 1) < minIf(s, found = 0))
    """


def spread(store: Store, table: str, direction: Direction, starts: str, within: str = "") -> None:
    """Fill ``table`` with every node ``starts`` (a subquery of node ids, as column ``node``)
    reach going ``direction``, themselves included, each once: one set for all the starts,
    its size that of the part of the graph reached. ``within`` names a table whose nodes
    alone may be entered."""
    key, other = ("src", "dst") if direction == "down" else ("dst", "src")
    inside = f" AND {other} IN (SELECT node FROM {within})" if within else ""
    store.command(f"INSERT INTO {table} SELECT DISTINCT 0, node FROM ({starts})")
    for step in range(1, MAX_DEPTH + 1):
        store.command(
            f"""
            INSERT INTO {table}
            SELECT DISTINCT {step}, {other} FROM edges
            WHERE {LIVE} AND {key} IN (SELECT node FROM {table} WHERE step = {step - 1})
                AND {other} NOT IN (SELECT node FROM {table}){inside}
            """
        )
        if not _count(store, f"SELECT 1 FROM {table} WHERE step = {step} LIMIT 1"):
            return


def walk(store: Store, direction: Direction, starts: str, within: str = "") -> None:
    """Fill the walk table of ``direction`` with what each of ``starts`` (a subquery of node
    ids, as column ``node``) reaches over the stored edges, itself included at depth 0;
    ``within`` names a table whose nodes alone may be entered."""
    table = WALKS[direction]
    key, other = ("src", "dst") if direction == "down" else ("dst", "src")
    inside = f" AND {other} IN (SELECT node FROM {within})" if within else ""
    store.command(f"INSERT INTO {table} SELECT 0, node, node, 0, {ORIGIN} FROM ({starts})")
    for step in range(1, MAX_DEPTH + 1):
        # Every row the last step improved, one edge further...
        store.command(f"TRUNCATE TABLE {STEP}")
        store.command(
            f"""
            INSERT INTO {STEP}
            SELECT f.start, e.next, min(f.depth + 1), min(greatest(f.since, e.t))
            FROM (SELECT start, node, depth, since FROM {table} WHERE step = {step - 1}) AS f
            INNER JOIN (
                SELECT {key} AS node, {other} AS next, toUnixTimestamp64Milli(event_time) AS t
                FROM edges
                WHERE {LIVE} AND {key} IN (SELECT node FROM {table} WHERE step = {step - 1}){inside}
            ) AS e ON e.node = f.node
            WHERE f.depth < {MAX_DEPTH}
            GROUP BY f.start, e.next
            """
        )
        if not _count(store, f"SELECT 1 FROM {STEP} LIMIT 1"):
            return
        # ... kept where it improves on what the walk holds for that (start, node).
        held = f"SELECT * FROM {table} WHERE node IN (SELECT node FROM {STEP})"
        store.command(
            f"INSERT INTO {table} SELECT {step}, start, node, depth, since "
            f"FROM ({improving('start, node', f'SELECT * FROM {STEP}', held)})"
        )


# Pairs through the new edges: the models each walk down reached, per start, times what each
# walk up reached. (A walk may hold a (start, node) more than once, improved: min() over the
# pairs settles that too.)
_THROUGH_EDGES = f"""
    SELECT d.node AS model_node, u.node AS ancestor,
           d.depth + 1 + u.depth AS depth, greatest(d.since, n.t, u.since) AS since
    FROM {NEW} AS n
    INNER JOIN (
        SELECT start, node, depth, since FROM {WALKS["down"]} WHERE startsWith(node, 'model:')
    ) AS d ON d.start = n.dst
    INNER JOIN {WALKS["up"]} AS u ON u.start = n.src
    WHERE u.node != d.node
"""
# Pairs of the models' walks up: their whole upstream.
_FROM_MODELS = f"""
    SELECT start AS model_node, node AS ancestor, depth, since
    FROM {WALKS["up"]} WHERE node != start
"""


def _improvements(found: str, models: str) -> str:
    """INSERT of the pairs of ``found`` that improve on what model_upstream holds for
    ``models`` (a subquery of node ids, as column ``node``)."""
    held = f"""
        SELECT model_node, ancestor, depth, toUnixTimestamp64Milli(since) AS since
        FROM model_upstream
        WHERE model_node IN (SELECT node FROM ({models}))
    """
    return f"""
        INSERT INTO model_upstream (model_node, ancestor, depth, since)
        SELECT model_node, ancestor, depth, fromUnixTimestamp64Milli(since, 'UTC')
        FROM ({improving("model_node, ancestor", found, held)})
    """


def _rebuild_after_failures(store: Store, where: str) -> None:
    """Build again, from scratch, the closures of the models that a run said to have failed
    by the rows ``where`` matches had reached: closures only grow, and a run that failed
    after its inputs and outputs were stored (START, then FAIL) built nothing after all."""
    found = store.query(
        "SELECT DISTINCT model_node FROM model_upstream "
        f"WHERE ancestor IN ({newly_failed(store, where)})"
    ).result_rows
    if not found:
        return
    # Named, not asked for by subquery: a mutation runs outside this session and its
    # temporary tables.
    models = strings(sorted(r[0] for r in found))
    store.command(f"DELETE FROM model_upstream WHERE model_node IN {models}")
    rebuilt = f"SELECT arrayJoin({models}) AS node"
    walk(store, "up", rebuilt)
    store.command(
        _improvements(_FROM_MODELS, rebuilt), settings={**INSERT_SETTINGS, "insert_deduplicate": 0}
    )
    _empty(store)


def extend_closures(store: Store, ranges: Ranges) -> None:
    """Derived step: add to ``model_upstream`` what the edges stored from the offsets
    ``ranges`` make reachable."""
    # A model is the end of an edge, and edges are sorted by their end: an indexed read.
    if not _count(store, "SELECT 1 FROM edges WHERE startsWith(dst, 'model:') LIMIT 1"):
        return  # no model in the store: no closure to extend
    where = stored_from(ranges)
    _create(store)
    try:
        _rebuild_after_failures(store, where)
        store.command(
            f"INSERT INTO {NEW} SELECT DISTINCT src, dst, toUnixTimestamp64Milli(event_time) "
            f"FROM edges WHERE {where} AND {LIVE}",
            settings=LARGE_QUERY,
        )
        spread(store, BELOW, "down", f"SELECT dst AS node FROM {NEW}")
        models = f"SELECT node FROM {BELOW} WHERE startsWith(node, 'model:')"
        found = _count(store, models)
        if not found:
            return
        spread(store, LEADING, "up", models, within=BELOW)
        # The new edges with a model below them, by their two ends.
        ends = _count(
            store,
            f"SELECT DISTINCT arrayJoin([src, dst]) FROM {NEW} "
            f"WHERE dst IN (SELECT node FROM {LEADING})",
        )
        if found <= ends:  # from the models
            walk(store, "up", models)
            store.command(_improvements(_FROM_MODELS, models), settings=INSERT_SETTINGS)
            return
        # Every path from a new edge down to a model runs through nodes both below the new
        # edges and above a model below them; the walk down need enter no other, and each
        # pair's shortest depth and earliest since are those of the unpruned walk.
        walk(
            store,
            "down",
            f"SELECT DISTINCT dst AS node FROM {NEW} WHERE dst IN (SELECT node FROM {LEADING})",
            within=LEADING,
        )
        sources = (
            f"SELECT DISTINCT src AS node FROM {NEW} WHERE dst IN "
            f"(SELECT start FROM {WALKS['down']} WHERE startsWith(node, 'model:'))"
        )
        walk(store, "up", sources)
        reached = f"SELECT node FROM {WALKS['down']} WHERE startsWith(node, 'model:')"
        store.command(_improvements(_THROUGH_EDGES, reached), settings=INSERT_SETTINGS)
    finally:
        _empty(store)
