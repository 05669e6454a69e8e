-- Each model version's newest training, read whole by the model_training_dict and
-- model_training_direct dictionaries (migration 5). Dictionaries read their source without
-- FINAL, where a version's replaced row could win the race into the hash table: they read
-- this view instead.
CREATE OR REPLACE VIEW model_training_latest AS
SELECT model_node, training_run, datasets, roles FROM model_training FINAL
