-- A person, by pseudonym: which model versions were built from their records, and whether
-- each saw them only masked: masked = 1 when every path from the records to the model passes
-- a masking run or masked output, 0 when some path carried the records on in clear. Runs
-- that failed or were aborted built nothing.
CREATE OR REPLACE VIEW subject_models AS
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
SELECT m.model_version AS model_version, m.depth AS depth, m.through AS through,
       r.masked AS masked
FROM (
    SELECT model_node AS model_version, min(depth) AS depth,
           arrayStringConcat(arraySort(groupUniqArray(ancestor)), ', ') AS through
    FROM model_upstream
    WHERE ancestor IN (SELECT node_id FROM subject_links WHERE subject = {subject:String})
    GROUP BY model_version
) AS m
LEFT JOIN (
    SELECT node, min(masked) AS masked FROM reach WHERE startsWith(node, 'model:')
    GROUP BY node
) AS r ON r.node = m.model_version
