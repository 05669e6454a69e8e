-- Predictions made downstream of a node in [since, until), by the model versions it reaches;
-- reached as a tag on the node would reach: not past a masking run (unless the node is that
-- run) nor along a run's output written only through masking columns, and never through a
-- run that failed or was aborted. A prediction naming only its deployment was made by the
-- model version served there at its time (served_model); where none is recorded as served
-- then, it counts when the deployment is reached. A deployment asked about itself reaches
-- every prediction made there. The predictions are counted by id (a prediction stored twice,
-- a replay before merges, is one prediction); people by their pseudonyms, a prediction
-- without a subject concerning nobody.
CREATE OR REPLACE VIEW impact_of AS
WITH RECURSIVE reach AS (
    SELECT {node:String} AS node, 0 AS hops
    UNION ALL
    SELECT e.dst, min(reach.hops) + 1
    FROM edges AS e INNER JOIN reach ON e.src = reach.node
    WHERE reach.hops < 100 AND e.src IN (SELECT node FROM reach)
      AND e.event_time <= {until:DateTime64(3, 'UTC')}
      AND e.run_id NOT IN (SELECT run_id FROM failed_runs)
      AND (reach.hops = 0 OR (
          e.src NOT IN (SELECT node_id FROM properties WHERE key = 'masking'
                        GROUP BY node_id HAVING argMax(value, event_time) = 'true')
          AND (e.src, e.dst) NOT IN (
              SELECT concat('run:', run_id), dst_node FROM column_edges
              GROUP BY run_id, dst_node HAVING min(masking))))
    GROUP BY e.dst
)
SELECT served_model AS model_version, deployment, output,
       uniqExact(inference_id) AS predictions, uniqExactIf(subject, subject != '') AS subjects,
       min(event_time) AS first, max(event_time) AS last
FROM inferences
WHERE (model_node IN (SELECT node FROM reach WHERE startsWith(node, 'model:'))
       OR (model_node = '' AND deployment IN (
               SELECT node FROM reach WHERE startsWith(node, 'deployment:'))
           AND (served_model = '' OR served_model IN (
               SELECT node FROM reach WHERE startsWith(node, 'model:'))))
       OR deployment = {node:String})
  AND event_time >= {since:DateTime64(3, 'UTC')}
  AND event_time < {until:DateTime64(3, 'UTC')}
GROUP BY model_version, deployment, output
