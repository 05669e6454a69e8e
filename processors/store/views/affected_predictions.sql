-- Predictions inside an active tag's window [start, end), made by a model version it
-- reached, or at a deployment it reached when the model behind the prediction is unknown or
-- the tag sits on the deployment itself (so no prediction counts twice for one tag). The IN
-- filters follow the sort key of inferences (model first, deployment-only predictions under
-- model '' by deployment), so only the impacted models' and deployments' rows are read: a
-- deployment serving a reached model is reached too, through its deployed edge.
CREATE OR REPLACE VIEW affected_predictions AS
SELECT
    t.tag_node AS tag_node,
    t.tag AS tag,
    t.incident_id AS incident_id,
    t.affected AS via,
    i.inference_id AS inference_id,
    i.event_time AS event_time,
    i.model_node AS model_node,
    i.deployment AS deployment,
    i.served_model AS served_model,
    i.subject AS subject,
    i.output AS output
FROM inferences AS i
INNER JOIN (SELECT * FROM active_tag_impacts WHERE kind = 'model') AS t
    ON i.served_model = t.affected
WHERE (i.model_node IN (SELECT affected FROM active_tag_impacts
                        WHERE kind = 'model')
       OR (i.model_node = ''
           AND i.deployment IN (SELECT affected FROM active_tag_impacts
                                WHERE kind = 'deployment')))
  AND (t.window_start IS NULL OR i.event_time >= t.window_start)
  AND (t.window_end IS NULL OR i.event_time < t.window_end)
UNION ALL
SELECT
    t.tag_node, t.tag, t.incident_id, t.affected, i.inference_id, i.event_time,
    i.model_node, i.deployment, i.served_model, i.subject, i.output
FROM inferences AS i
INNER JOIN (SELECT * FROM active_tag_impacts WHERE kind = 'deployment') AS t
    ON i.deployment = t.affected
WHERE i.deployment IN (SELECT affected FROM active_tag_impacts
                       WHERE kind = 'deployment')
  AND (t.depth = 0 OR i.served_model = '')
  AND (t.window_start IS NULL OR i.event_time >= t.window_start)
  AND (t.window_end IS NULL OR i.event_time < t.window_end)
