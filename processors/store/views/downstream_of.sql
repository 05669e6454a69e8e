-- As upstream_of, the other way: reads edges by src through their by_src_role projection
-- (migration 11), with the role of the edge that reached each node.
-- `lineage downstream` answers the same.
CREATE OR REPLACE VIEW downstream_of AS
WITH RECURSIVE walk AS (
    SELECT dst AS node, 1 AS hops, min((src, relation, role)) AS edge,
           min(event_time) AS since
    FROM edges
    WHERE src = {node:String} AND event_time <= {as_of:DateTime64(3, 'UTC')}
      AND (empty({relations:Array(String)}) OR has({relations:Array(String)}, relation))
    GROUP BY dst
    UNION ALL
    SELECT e.dst, min(walk.hops) + 1, min((e.src, e.relation, e.role)),
           min(greatest(e.event_time, walk.since))
    FROM edges AS e INNER JOIN walk ON e.src = walk.node
    WHERE walk.hops < {max_depth:UInt32} AND e.src IN (SELECT node FROM walk)
      AND e.event_time <= {as_of:DateTime64(3, 'UTC')}
      AND (empty({relations:Array(String)})
           OR has({relations:Array(String)}, e.relation))
    GROUP BY e.dst
)
SELECT min(hops) AS depth, node, splitByChar(':', node)[1] AS kind,
       argMin(edge, hops).2 AS relation, argMin(edge, hops).3 AS role,
       argMin(edge, hops).1 AS via, min(since) AS since
FROM walk
GROUP BY node
