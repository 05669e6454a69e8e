-- A person, by pseudonym: where their records are.
CREATE OR REPLACE VIEW subject_holdings AS
SELECT node_id AS node, splitByChar(':', node_id)[1] AS kind, key_id,
       min(event_time) AS since
FROM subject_links
WHERE subject = {subject:String}
GROUP BY node, kind, key_id
