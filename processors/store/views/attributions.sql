-- One row per stored copy of a prediction, with the training data that may have influenced
-- it, looked up by the model version that served it, and when the copy was written: a
-- prediction written twice shows twice, until merged in a scan, or until next rewritten in a
-- lookup by id; `ORDER BY written_at DESC LIMIT 1 BY inference_id` keeps the newest.
-- Collapsing copies here would hold every prediction in memory for a scan.
CREATE OR REPLACE VIEW attributions AS
SELECT
    inference_id, event_time, model_node, deployment, served_model, subject, output,
    input_datasets, training_run,
    if(resolved,
       dictGetOrDefault('model_training_direct', 'datasets', served_model,
                        CAST([], 'Array(String)')),
       CAST([], 'Array(String)')) AS training_datasets,
    if(resolved,
       dictGetOrDefault('model_training_direct', 'roles', served_model,
                        CAST([], 'Array(String)')),
       CAST([], 'Array(String)')) AS training_roles,
    resolved,
    written_at
FROM inferences
