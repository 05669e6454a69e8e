"""The questions people ask, as SQL over the store. Each returns a :class:`Table`."""

from __future__ import annotations

from collector.ids import parse_node_id
from processors.errors import NotFoundError, QueryError
from processors.query_runner import QueryRunner, Table

MAX_DEPTH = 100

# Walk edges against their direction, from the node to everything it was made from. The
# recursion is bounded by depth, which also stops it on a cycle; each node is reported at
# the shortest distance it was reached.
UPSTREAM_SQL = """
WITH RECURSIVE up AS (
    SELECT src AS node, dst AS via, relation, role, 1 AS depth
    FROM edges WHERE dst = {node:String}
    UNION ALL
    SELECT e.src, e.dst, e.relation, e.role, up.depth + 1
    FROM edges AS e INNER JOIN up ON e.dst = up.node
    WHERE up.depth < {depth:UInt32}
)
SELECT
    min(depth) AS depth,
    node,
    splitByChar(':', node)[1] AS kind,
    argMin(relation, up.depth) AS relation,
    argMin(role, up.depth) AS role,
    argMin(via, up.depth) AS via
FROM up
GROUP BY node
ORDER BY depth, node
"""


def check_depth(depth: int) -> int:
    if not 1 <= depth <= MAX_DEPTH:
        raise QueryError(f"--depth must be between 1 and {MAX_DEPTH}, got {depth}")
    return depth


def require_node(runner: QueryRunner, node: str) -> str:
    """Validate ``node`` and make sure the store knows it; else suggest the nearest names."""
    node_id = str(parse_node_id(node))
    found = runner.run("SELECT count() FROM nodes WHERE node_id = {n:String}", {"n": node_id})
    if found.rows and found.rows[0][0]:
        return node_id
    nearest = runner.run(
        "SELECT DISTINCT node_id FROM nodes "
        "ORDER BY ngramDistance(node_id, {n:String}), node_id LIMIT 5",
        {"n": node_id},
    )
    names = [r[0] for r in nearest.rows]
    hint = f"; nearest known: {', '.join(names)}" if names else "; the store holds no nodes yet"
    raise NotFoundError(f"{node_id} not found{hint}")


def upstream(runner: QueryRunner, node: str, depth: int = 20) -> Table:
    """Everything ``node`` was made from, nearest first."""
    check_depth(depth)
    node_id = require_node(runner, node)
    return runner.run(UPSTREAM_SQL, {"node": node_id, "depth": depth})
