-- The periods each deployment served each model version, read by the deployment_models
-- dictionary (migration 5); under FINAL for the same reason as model_training_latest.
CREATE OR REPLACE VIEW deployment_periods AS
SELECT deployment, valid_from, valid_until, model_node FROM deployments FINAL
