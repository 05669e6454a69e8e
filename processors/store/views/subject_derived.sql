-- Datasets made from a person's records, at any distance. masked = 1 when every path from
-- the records passes a masking run or masked output (anonymised there), 0 when some path
-- carries the records on as they were. Runs that failed or were aborted made nothing.
CREATE OR REPLACE VIEW subject_derived AS
WITH RECURSIVE reach AS (
    SELECT node_id AS node, 0 AS hops, toUInt8(0) AS masked
    FROM subject_links WHERE subject = {subject:String}
    UNION ALL
    SELECT e.dst, min(reach.hops) + 1,
           toUInt8(min(reach.masked OR (
               e.src IN (SELECT node_id FROM properties WHERE key = 'masking'
                         GROUP BY node_id
                         HAVING argMax(value, event_time) = 'true')
               OR (e.src, e.dst) IN (
                   SELECT concat('run:', run_id), dst_node FROM column_edges
                   GROUP BY run_id, dst_node HAVING min(masking)))))
    FROM edges AS e INNER JOIN reach ON e.src = reach.node
    WHERE reach.hops < 100 AND e.src IN (SELECT node FROM reach)
      AND e.run_id NOT IN (SELECT run_id FROM failed_runs)
    GROUP BY e.dst
)
SELECT node AS dataset, min(hops) AS depth, min(masked) AS masked
FROM reach
WHERE startsWith(node, 'dataset:') AND node NOT IN (
    SELECT node_id FROM subject_links WHERE subject = {subject:String})
GROUP BY node
