-- What two model versions can be compared on: (aspect, key) -> value.
CREATE OR REPLACE VIEW model_facts AS
WITH lineage AS (SELECT * FROM model_lineage(model = {model:String}))
SELECT 'dataset' AS aspect, splitByChar('@', substring(node, 9))[1] AS key,
       arrayStringConcat(arraySort(groupArray(concat(
           splitByChar('@', node)[2], if(role != '', concat(' (', role, ')'), '')))),
       ', ') AS value
FROM lineage WHERE kind = 'dataset' GROUP BY key
UNION ALL
SELECT 'split', concat(substring(node, 9), ' ', kv.1), kv.2
FROM lineage ARRAY JOIN properties AS kv
WHERE kind = 'dataset' AND startsWith(kv.1, 'split.')
UNION ALL
SELECT 'transformation', concat(substring(properties['job'], 5), ' ', kv.1),
       arrayStringConcat(arraySort(groupUniqArray(kv.2)), ', ')
FROM lineage ARRAY JOIN properties AS kv
WHERE kind = 'run' AND properties['job'] != ''
  AND (startsWith(kv.1, 'param.') OR kv.1 IN ('code_version', 'kind', 'annotator',
                                               'guideline_version', 'masking'))
GROUP BY 1, 2
UNION ALL
SELECT 'training', kv.1, kv.2
FROM lineage ARRAY JOIN properties AS kv
WHERE kind = 'run' AND depth = 1
  AND (startsWith(kv.1, 'hyperparameter.') OR kv.1 = 'code_version')
UNION ALL
SELECT 'metric', substring(kv.1, 8), kv.2
FROM lineage ARRAY JOIN properties AS kv
WHERE depth = 0 AND startsWith(kv.1, 'metric.')
UNION ALL
SELECT 'source', substring(node, 8), 'used' FROM lineage WHERE kind = 'source'
