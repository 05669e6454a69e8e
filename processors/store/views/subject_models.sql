-- A person, by pseudonym: which model versions were built from their records.
CREATE OR REPLACE VIEW subject_models AS
SELECT model_node AS model_version, min(depth) AS depth,
       arrayStringConcat(arraySort(groupUniqArray(ancestor)), ', ') AS through
FROM model_upstream
WHERE ancestor IN (SELECT node_id FROM subject_links WHERE subject = {subject:String})
GROUP BY model_version
