"""``lineage recipe``: how a model version was built, step by step, to build it again.

The runs of its lineage in the order they must run (each after the runs that wrote its
inputs), each with its job, kind, code version and parameters, inputs and outputs, ending
with the training run and its hyperparameters. With replacements (``OLD=NEW`` dataset
versions, e.g. labels corrected by the vendor), every step reading a replaced dataset, or
one rebuilt from it, is marked to run again with the new inputs; the others are reused.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lineage_collector.errors import NodeIdError
from lineage_collector.ids import parse_node_id
from lineage_processors.answers.attribution import details, lineage_rows
from lineage_processors.answers.inputs import require_model
from lineage_processors.answers.runner import QueryRunner, Table
from lineage_processors.derive.walks import strings

COLUMNS = [
    "step",
    "action",
    "run",
    "job",
    "kind",
    "code_version",
    "parameters",
    "inputs",
    "outputs",
]
FACTS = ("param.", "annotator", "guideline_version", "masking", "hyperparameter.")


def parse_replacements(pairs: list[str]) -> dict[str, str]:
    """``dataset:a@v1=dataset:a@v2`` pairs (the ``dataset:`` may be left out)."""
    out = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        try:
            if not sep:
                raise NodeIdError("")
            ids = [
                parse_node_id(x if x.startswith("dataset:") else f"dataset:{x}") for x in (old, new)
            ]
            if any(i.kind != "dataset" or not i.version for i in ids):
                raise NodeIdError("")
        except NodeIdError:
            raise NodeIdError(
                f"--replace {pair!r}: expected OLD=NEW dataset versions, e.g. "
                "dataset:support/vendor-labels@v1=dataset:support/vendor-labels@v2"
            ) from None
        out[str(ids[0])] = str(ids[1])
    return out


def order(
    runs: list[str], inputs: dict[str, list[str]], outputs: dict[str, list[str]]
) -> list[str]:
    """Runs sorted so each comes after the runs writing its inputs (ties by id)."""
    writer = {d: r for r in runs for d in outputs[r]}
    before = {r: {writer[d] for d in inputs[r] if d in writer and writer[d] != r} for r in runs}
    done: list[str] = []
    left = set(runs)
    while left:
        ready = sorted(r for r in left if before[r] <= set(done)) or sorted(left)[:1]
        done.append(ready[0])
        left.discard(ready[0])
    return done


def recipe(runner: QueryRunner, model_text: str, replace: dict[str, str] | None = None) -> Table:
    model = require_model(runner, model_text)
    replace = replace or {}
    lineage = lineage_rows(runner, model)
    props = {r[1]: r[4] or {} for r in lineage}
    runs = [r[1] for r in lineage if r[2] == "run"]
    inputs: dict[str, list[str]] = defaultdict(list)
    outputs: dict[str, list[str]] = defaultdict(list)
    if runs:
        for src, dst, _rel, role in runner.run(
            f"SELECT DISTINCT src, dst, relation, role FROM edges WHERE dst IN {strings(runs)} "
            "AND relation = 'input' ORDER BY src"
        ).rows:
            inputs[dst].append(f"{src} ({role})" if role else src)
        for src, dst, _rel in runner.run(
            f"SELECT DISTINCT src, dst, relation FROM edges WHERE src IN {strings(runs)} "
            "AND relation = 'output' ORDER BY dst"
        ).rows:
            outputs[src].append(dst)
    plain_inputs = {r: [i.split(" (")[0] for i in inputs[r]] for r in runs}
    changed = set(replace)
    rows: list[list[Any]] = []
    for n, run in enumerate(order(runs, plain_inputs, outputs), 1):
        p = props.get(run, {})
        rerun = any(i in changed for i in plain_inputs[run])
        if rerun:
            changed.update(outputs[run])
        ins = [_swap(i, replace) for i in inputs[run]]
        outs = [o + (" (rebuilt)" if rerun else "") for o in outputs[run]]
        rows.append(
            [
                n,
                ("run again" if rerun else "reuse") if replace else "run",
                run,
                p.get("job", "training" if model in outputs[run] else ""),
                p.get("kind", "TRAIN" if model in outputs[run] else ""),
                p.get("code_version", ""),
                details(p, FACTS),
                ", ".join(ins),
                ", ".join(outs),
            ]
        )
    return Table(COLUMNS, rows)


def _swap(entry: str, replace: dict[str, str]) -> str:
    node, _, role = entry.partition(" (")
    if node in replace:
        return replace[node] + (f" ({role}" if role else "") + " (replaces " + node + ")"
    return entry
