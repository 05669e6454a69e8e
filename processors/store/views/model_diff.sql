-- Why model version b behaves differently from a: every fact that differs.
CREATE OR REPLACE VIEW model_diff AS
SELECT aspect, key,
       multiIf(NOT a.present, 'added', NOT b.present, 'removed', 'changed') AS change,
       a.value AS before, b.value AS after
FROM (SELECT aspect, key, value, 1 AS present FROM model_facts(model = {a:String})) AS a
FULL OUTER JOIN
     (SELECT aspect, key, value, 1 AS present FROM model_facts(model = {b:String})) AS b
USING (aspect, key)
WHERE a.present != b.present OR a.value != b.value
