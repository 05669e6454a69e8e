"""``model_upstream``: everything each model version was built from, kept transitive.

After each run of stored rows, every path through one of its new edges X -> Y is a path from
an ancestor A of X (or X itself) to a model M downstream of Y (or Y itself):
``A ->* X -> Y ->* M``. So the new pairs are (M, A) for those, with the shortest depth
``d(Y, M) + 1 + d(A, X)`` and the earliest "since" ``max(since(Y, M), t, since(A, X))``.
A late edge extending a chain that already ends in a model adds its whole upstream to that
model; pairs already stored as good are not written again. The walks read the stored graph,
which holds the run's own edges by now, so chains that arrive together are found too.

All of it runs inside ClickHouse, in temporary tables of the store's session: the new edges,
then a walk down from their destinations and one up from the sources of those with a model
below, then one ``INSERT ... SELECT`` of the pairs that improve on what is stored. Python only
sends the statements: a run costs a couple of dozen of them, whether it holds ten edges or
ten thousand, where walking in Python cost tens of microseconds per edge.

A walk keeps, per start, each node reached with its shortest depth and earliest since. Both
are path minima (of a sum, and of a max), so relaxing them together, Bellman-Ford's way,
settles both: each step extends only the rows the previous step improved, and stops when a
step improves nothing (a cycle never improves, so it ends there too).
"""

from __future__ import annotations

from processors.derived import Ranges, stored_from
from processors.sinks.clickhouse import INSERT_SETTINGS
from processors.store.connect import Store
from processors.walks import LARGE_QUERY, MAX_DEPTH, ORIGIN, Direction

NEW = "closure_new"  # the run's edges
WALKS: dict[Direction, str] = {"down": "closure_down", "up": "closure_up"}
STEP = "closure_step"  # a walk's step, before it is checked against the walk
TABLES = {
    NEW: "src String, dst String, t Int64",
    STEP: "start String, node String, depth UInt32, since Int64",
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


def walk(store: Store, direction: Direction, starts: str) -> None:
    """Fill the walk table of ``direction`` with what each of ``starts`` (a subquery of node
    ids, as column ``node``) reaches over the stored edges, itself included at depth 0."""
    table = WALKS[direction]
    key, other = ("src", "dst") if direction == "down" else ("dst", "src")
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
                WHERE {key} IN (SELECT node FROM {table} WHERE step = {step - 1})
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
_FOUND = f"""
    SELECT d.node AS model_node, u.node AS ancestor,
           d.depth + 1 + u.depth AS depth, greatest(d.since, n.t, u.since) AS since
    FROM {NEW} AS n
    INNER JOIN (
        SELECT start, node, depth, since FROM {WALKS["down"]} WHERE startsWith(node, 'model:')
    ) AS d ON d.start = n.dst
    INNER JOIN {WALKS["up"]} AS u ON u.start = n.src
    WHERE u.node != d.node
"""
# What model_upstream holds for those models.
_HELD = f"""
    SELECT model_node, ancestor, depth, toUnixTimestamp64Milli(since) AS since
    FROM model_upstream
    WHERE model_node IN (SELECT node FROM {WALKS["down"]} WHERE startsWith(node, 'model:'))
"""
_IMPROVEMENTS = f"""
    INSERT INTO model_upstream (model_node, ancestor, depth, since)
    SELECT model_node, ancestor, depth, fromUnixTimestamp64Milli(since, 'UTC')
    FROM ({improving("model_node, ancestor", _FOUND, _HELD)})
"""


def extend_closures(store: Store, ranges: Ranges) -> None:
    """Derived step: add to ``model_upstream`` what the edges stored from the offsets
    ``ranges`` make reachable."""
    where = stored_from(ranges)
    _create(store)
    try:
        store.command(
            f"INSERT INTO {NEW} SELECT DISTINCT src, dst, toUnixTimestamp64Milli(event_time) "
            f"FROM edges WHERE {where}",
            settings=LARGE_QUERY,
        )
        walk(store, "down", f"SELECT DISTINCT dst AS node FROM {NEW}")
        # Only edges with a model below them can change a closure: most runs of
        # transformations have none yet, and then there is nothing to walk up from.
        sources = (
            f"SELECT DISTINCT src AS node FROM {NEW} WHERE dst IN "
            f"(SELECT start FROM {WALKS['down']} WHERE startsWith(node, 'model:'))"
        )
        if _count(store, sources):
            walk(store, "up", sources)
            store.command(_IMPROVEMENTS, settings=INSERT_SETTINGS)
    finally:
        _empty(store)
