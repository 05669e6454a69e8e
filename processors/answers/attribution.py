"""``lineage attribution``: the training data that may have influenced one prediction.

prediction -> deployment -> model version -> training run -> dataset versions and splits ->
transformations with their parameters -> sources. The prediction is found through the
``by_id`` projection of ``inferences``, sorted by id, newest copy first (what the
``attributions`` view gives), the rest is the model version's lineage (the ``model_lineage``
view, as one query of key lookups).
"""

from __future__ import annotations

from typing import Any

from lineage_processors.answers.inputs import parse_inference
from lineage_processors.answers.runner import QueryRunner, Table
from lineage_processors.errors import NotFoundError

COLUMNS = ["depth", "step", "node", "role", "details"]
STEPS = {"run": "run", "dataset": "dataset", "source": "source", "job": "job"}


def details(properties: dict[str, str] | None, keys: tuple[str, ...] = ()) -> str:
    """A node's facts as ``key=value`` pairs, sorted; only ``keys`` prefixes when given."""
    items = sorted((properties or {}).items())
    if keys:
        items = [(k, v) for k, v in items if k.startswith(keys)]
    return ", ".join(f"{k}={v}" for k, v in items)


# What the model_lineage view joins, as tagged rows of one query: the closure and the model
# itself ("node": kind, depth, since), every fact of those nodes ("fact": key, value, time),
# and the split roles of the training data ("role": role). Rows not yet merged are
# collapsed here rather than by GROUP BY, which costs more than the reads on rows this few.
CLOSURE = """
SELECT 'node' AS what, ancestor AS node, toString(ancestor_kind) AS a, '' AS b, depth, since
FROM model_upstream WHERE model_node = {m:String}
"""
MODEL = """
SELECT 'node', node_id, 'model', '', 0, min(event_time) FROM nodes
WHERE node_id = {m:String} GROUP BY node_id
"""
# A prediction's model version is known to exist, and when it was first recorded is not
# part of the answer: one lookup fewer.
SERVED = "SELECT 'node', {m:String}, 'model', '', 0, toDateTime64(0, 3, 'UTC')"
# The split roles of the inputs of the run a prediction is attributed to, as its edges
# carry them: a key range of edges, where model_training holds whole arrays per row.
RUN_ROLES = """
SELECT 'role', src, role, '', 0, toDateTime64(0, 3, 'UTC') FROM edges
WHERE dst = {r:String} AND role != ''
"""
FACTS = """
SELECT 'fact', node_id, key, value, 0, event_time FROM properties
WHERE node_id IN (SELECT ancestor FROM model_upstream WHERE model_node = {m:String}
                  UNION ALL SELECT {m:String})
"""
ROLES = """
SELECT 'role', t.1, t.2, '', 0, toDateTime64(0, 3, 'UTC')
FROM (SELECT argMax((datasets, roles), event_time) AS pair FROM model_training
      WHERE model_node = {m:String})
ARRAY JOIN arrayZip(pair.1, pair.2) AS t
"""
LINEAGE_SQL = " UNION ALL ".join((CLOSURE, MODEL, FACTS, ROLES))
SERVED_LINEAGE_SQL = " UNION ALL ".join((CLOSURE, SERVED, FACTS, RUN_ROLES))


def lineage_rows(runner: QueryRunner, model: str, run: str | None = None) -> list[list[Any]]:
    """What the ``model_lineage`` view gives for ``model`` (depth, node, kind, role,
    properties, since; ordered by depth and node), in one query of key lookups: the
    view's joins cost more than the lookups themselves.

    Given the training ``run`` a prediction was attributed to, the roles are those of
    that run's inputs, and the model's own "since" is left out."""
    sql, params = (
        (LINEAGE_SQL, {"m": model}) if run is None else (SERVED_LINEAGE_SQL, {"m": model, "r": run})
    )
    found: dict[str, list[Any]] = {}  # node -> [kind, depth, since]
    facts: dict[str, dict[str, tuple[Any, str]]] = {}  # node -> key -> (time, value)
    roles: dict[str, set[str]] = {}
    for what, node, a, b, depth, since in runner.run(sql, params).rows:
        if what == "node":
            seen = found.setdefault(node, [a, depth, since])
            seen[1], seen[2] = min(seen[1], depth), min(seen[2], since)
        elif what == "fact":
            kept = facts.setdefault(node, {}).get(a)
            if kept is None or since > kept[0]:
                facts[node][a] = (since, b)
        else:
            roles.setdefault(node, set()).add(a)
    rows = [
        [
            depth,
            node,
            kind,
            ",".join(sorted(roles.get(node, ()))),
            {k: v for k, (_, v) in sorted(facts.get(node, {}).items())},
            since,
        ]
        for node, (kind, depth, since) in found.items()
    ]
    return sorted(rows, key=lambda r: (r[0], r[1]))


def attribution(runner: QueryRunner, inference: str) -> Table:
    inference_id = parse_inference(inference)
    found = runner.run(
        # The attributions view's columns, from the table: the view costs 3 ms more.
        # The projection keeps every copy a replay wrote; the newest is the one the table
        # keeps (migration 14).
        "SELECT event_time, deployment, served_model, training_run, output, resolved "
        "FROM inferences WHERE inference_id = {i:String} ORDER BY written_at DESC LIMIT 1",
        {"i": inference_id},
    )
    if not found.rows:
        raise NotFoundError(
            f"no prediction with id {inference_id!r} is stored (ids are matched exactly, as "
            "logged; predictions older than LINEAGE_INFERENCE_RETENTION_DAYS are gone)"
        )
    when, deployment, model, run, output, resolved = found.rows[0]
    rows: list[list[Any]] = [
        [0, "prediction", f"inference:{inference_id}", "", f"at {when}, output {output!r}"]
    ]
    if deployment:
        rows.append([0, "deployment", deployment, "", "served the prediction"])
    if not model:
        rows.append([0, "model version", "", "", "unknown: the deployment's history is not stored"])
        return Table(COLUMNS, rows)
    lineage = lineage_rows(runner, model, run)
    for depth, node, kind, role, properties, _since in lineage:
        if depth == 0:
            rows.append([0, "model version", node, "", details(properties, ("metric.",))])
        elif node == run:
            rows.append([depth, "training run", node, "", details(properties)])
        else:
            step = "training data" if role else STEPS.get(kind, kind)
            rows.append([depth, step, node, role, details(properties)])
    if not resolved:
        rows.append(
            [
                1,
                "training run",
                "",
                "",
                f"not known yet: no completed training run of {model} is stored",
            ]
        )
    return Table(COLUMNS, rows)
