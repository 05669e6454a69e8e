-- A person, by pseudonym: the predictions made about them, each counted once under its
-- newest copy.
CREATE OR REPLACE VIEW subject_predictions AS
SELECT model_version, deployment, output, count() AS predictions,
       min(event_time) AS first, max(event_time) AS last
FROM (
    SELECT inference_id,
           argMax(i.served_model, i.written_at) AS model_version,
           argMax(i.deployment, i.written_at) AS deployment,
           argMax(i.output, i.written_at) AS output,
           argMax(i.event_time, i.written_at) AS event_time
    FROM inferences AS i
    WHERE i.subject = {subject:String}
    GROUP BY inference_id
)
GROUP BY model_version, deployment, output
