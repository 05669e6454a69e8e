-- Walks over the edges, as the graph was at as_of, following only the relations named (all
-- when empty). Each step keeps one row per node, so paths never multiply; a node is reported
-- at its shortest depth, with the earliest time some path to it was true.
-- `lineage upstream` answers the same.
CREATE OR REPLACE VIEW upstream_of AS
WITH RECURSIVE walk AS (
    SELECT src AS node, 1 AS hops, min((dst, relation, role)) AS edge,
           min(event_time) AS since
    FROM edges
    WHERE dst = {node:String} AND event_time <= {as_of:DateTime64(3, 'UTC')}
      AND (empty({relations:Array(String)}) OR has({relations:Array(String)}, relation))
    GROUP BY src
    UNION ALL
    SELECT e.src, min(walk.hops) + 1, min((e.dst, e.relation, e.role)),
           min(greatest(e.event_time, walk.since))
    FROM edges AS e INNER JOIN walk ON e.dst = walk.node
    WHERE walk.hops < {max_depth:UInt32} AND e.dst IN (SELECT node FROM walk)
      AND e.event_time <= {as_of:DateTime64(3, 'UTC')}
      AND (empty({relations:Array(String)})
           OR has({relations:Array(String)}, e.relation))
    GROUP BY e.src
)
SELECT min(hops) AS depth, node, splitByChar(':', node)[1] AS kind,
       argMin(edge, hops).2 AS relation, argMin(edge, hops).3 AS role,
       argMin(edge, hops).1 AS via, min(since) AS since
FROM walk
GROUP BY node
