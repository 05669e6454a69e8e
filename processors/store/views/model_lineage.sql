-- Everything a model version was built from (its closure), each node with its facts: split
-- role for training data, job, parameters and code version for runs, splits and sizes for
-- datasets, system and uri for sources. Depth 0 is the model itself, with its metrics.
CREATE OR REPLACE VIEW model_lineage AS
WITH
    closure AS (
        SELECT ancestor AS node, ancestor_kind AS kind, min(depth) AS depth,
               min(since) AS since
        FROM model_upstream WHERE model_node = {model:String}
        GROUP BY node, kind
    ),
    facts AS (
        SELECT node_id, mapFromArrays(groupArray(key), groupArray(value)) AS properties
        FROM (SELECT node_id, key, argMax(value, event_time) AS value FROM properties
              WHERE node_id = {model:String} OR node_id IN (
                  SELECT ancestor FROM model_upstream
                  WHERE model_node = {model:String})
              GROUP BY node_id, key)
        GROUP BY node_id
    ),
    splits AS (
        SELECT node, arrayStringConcat(arraySort(groupUniqArray(role)), ',') AS role
        FROM (SELECT argMax((datasets, roles), event_time) AS t FROM model_training
              WHERE model_node = {model:String})
        ARRAY JOIN t.1 AS node, t.2 AS role
        GROUP BY node
    )
SELECT {model:String} AS model_node, l.depth AS depth, l.node AS node, l.kind AS kind,
       s.role AS role, f.properties AS properties, l.since AS since
FROM (SELECT node, kind, depth, since FROM closure
      UNION ALL
      SELECT {model:String}, 'model', 0, min(event_time) FROM nodes
      WHERE node_id = {model:String}) AS l
LEFT JOIN splits AS s ON s.node = l.node
LEFT JOIN facts AS f ON f.node_id = l.node
