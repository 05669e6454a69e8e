"""``lineage diff``: why model version B behaves differently from A.

Both lineages are reduced to facts, (aspect, key) -> value (view ``model_facts``): the
versions and split roles of each dataset, split sizes, each transformation's parameters,
kind and code version, the training run's hyperparameters and code version, metrics, the
sources used. The view ``model_diff`` lists the facts that differ.
"""

from __future__ import annotations

from lineage_processors.answers.inputs import require_model
from lineage_processors.answers.runner import QueryRunner, Table

ORDER = "dataset", "split", "source", "transformation", "training", "metric"


def diff(runner: QueryRunner, a: str, b: str) -> Table:
    first, second = require_model(runner, a), require_model(runner, b)
    table = runner.run(
        "SELECT aspect, key, change, before, after FROM model_diff(a = {a:String}, b = {b:String})",
        {"a": first, "b": second},
    )
    rows = sorted(table.rows, key=lambda r: (ORDER.index(r[0]) if r[0] in ORDER else 99, r[1]))
    return Table(
        ["aspect", "key", "change", first, second], [[r[0], r[1], r[2], r[3], r[4]] for r in rows]
    )
