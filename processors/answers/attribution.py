"""``lineage attribution``: the training data that may have influenced one prediction.

prediction -> deployment -> model version -> training run -> dataset versions and splits ->
transformations with their parameters -> sources. The prediction is found through the
``by_inference`` projection index of ``inferences`` (the ``attributions`` view), the rest is
the model version's lineage (the ``model_lineage`` view: its closure, one key range).
"""

from __future__ import annotations

from typing import Any

from processors.answers.inputs import parse_inference
from processors.errors import NotFoundError
from processors.query_runner import QueryRunner, Table
from processors.walks import strings

COLUMNS = ["depth", "step", "node", "role", "details"]
STEPS = {"run": "run", "dataset": "dataset", "source": "source", "job": "job"}


def details(properties: dict[str, str] | None, keys: tuple[str, ...] = ()) -> str:
    """A node's facts as ``key=value`` pairs, sorted; only ``keys`` prefixes when given."""
    items = sorted((properties or {}).items())
    if keys:
        items = [(k, v) for k, v in items if k.startswith(keys)]
    return ", ".join(f"{k}={v}" for k, v in items)


def lineage_rows(runner: QueryRunner, model: str) -> list[list[Any]]:
    """What the ``model_lineage`` view gives for ``model`` (depth, node, kind, role,
    properties, since; ordered by depth and node), in three key lookups: the view's joins
    cost more than the lookups themselves."""
    found = runner.run(
        "SELECT ancestor AS node, any(ancestor_kind), min(depth), min(since) "
        "FROM model_upstream WHERE model_node = {m:String} GROUP BY node "
        "UNION ALL SELECT node_id, 'model', 0, min(event_time) FROM nodes "
        "WHERE node_id = {m:String} GROUP BY node_id",
        {"m": model},
    ).rows
    if not found:
        return []
    nodes = [r[0] for r in found]
    facts: dict[str, dict[str, str]] = {}
    for node, key, value in runner.run(
        "SELECT node_id, key, argMax(value, event_time) FROM properties "
        f"WHERE node_id IN {strings(nodes)} GROUP BY node_id, key"
    ).rows:
        facts.setdefault(node, {})[key] = value
    roles: dict[str, set[str]] = {}
    training = runner.run(
        "SELECT argMax((datasets, roles), event_time) FROM model_training "
        "WHERE model_node = {m:String}",
        {"m": model},
    ).rows
    if training and training[0][0]:
        datasets, split_roles = training[0][0]
        for node, role in zip(datasets, split_roles, strict=True):
            roles.setdefault(node, set()).add(role)
    rows = [
        [depth, node, kind, ",".join(sorted(roles.get(node, ()))), facts.get(node, {}), since]
        for node, kind, depth, since in found
    ]
    return sorted(rows, key=lambda r: (r[0], r[1]))


def attribution(runner: QueryRunner, inference: str) -> Table:
    inference_id = parse_inference(inference)
    found = runner.run(
        "SELECT event_time, deployment, served_model, training_run, output, resolved "
        "FROM attributions WHERE inference_id = {i:String} LIMIT 1",
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
    lineage = lineage_rows(runner, model)
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
