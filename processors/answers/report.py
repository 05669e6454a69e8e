"""``lineage report``: the training-data documentation an auditor asks for, from the store.

Sources, transformations with their parameters, dataset versions and splits, the training
run, metrics and the incidents in force on anything in the lineage, as Markdown or HTML.
Every figure comes from the views ``model_lineage`` and ``active_tag_impacts``.
"""

from __future__ import annotations

import html
from typing import Any

from lineage_processors.answers.attribution import details, lineage_rows
from lineage_processors.answers.inputs import require_model
from lineage_processors.answers.recipe import recipe
from lineage_processors.answers.runner import QueryRunner, Table
from lineage_processors.derive.walks import strings

REPORT_FORMATS = ("md", "html")

Part = tuple[str, Table | str]  # a heading, and a table or a sentence under it


def parts(runner: QueryRunner, model_text: str) -> tuple[str, list[Part]]:
    """The report's title and its parts, in order."""
    model = require_model(runner, model_text)
    lineage = lineage_rows(runner, model)
    by_kind: dict[str, list[list[Any]]] = {}
    for row in lineage:
        by_kind.setdefault(row[2], []).append(row)
    out: list[Part] = []
    me = next((r for r in lineage if r[0] == 0), None)
    metrics = details(me[4] if me else {}, ("metric.",)).replace("metric.", "")
    out.append(
        (
            "Model version",
            f"{model}, first recorded {me[5] if me else 'never'}; "
            f"metrics: {metrics or 'none recorded'}.",
        )
    )
    steps = recipe(runner, model)
    training = [r for r in steps.rows if r[3] == "training"]
    if training:
        t = training[-1]
        out.append(
            (
                "Training run",
                Table(
                    ["run", "code_version", "hyperparameters", "inputs"], [[t[2], t[5], t[6], t[7]]]
                ),
            )
        )
    else:
        out.append(("Training run", "No completed training run is recorded."))
    data = [
        [
            r[1],
            r[3] or "",
            details(r[4], ("split.", "row_count", "content_hash", "storage_uri")),
            r[0],
        ]
        for r in by_kind.get("dataset", [])
    ]
    out.append(
        (
            "Dataset versions and splits",
            Table(["dataset", "role", "facts", "depth"], data)
            if data
            else "No dataset version is recorded.",
        )
    )
    transformations = [r for r in steps.rows if r[3] != "training"]
    out.append(
        (
            "Transformations",
            Table(
                ["step", "run", "job", "kind", "code_version", "parameters", "inputs", "outputs"],
                [[r[0], r[2], r[3], r[4], r[5], r[6], r[7], r[8]] for r in transformations],
            )
            if transformations
            else "No transformation is recorded.",
        )
    )
    sources = [[r[1], details(r[4]), r[0]] for r in by_kind.get("source", [])]
    out.append(
        (
            "Sources",
            Table(["source", "facts", "depth"], sources) if sources else "No source is recorded.",
        )
    )
    nodes = [r[1] for r in lineage]
    incidents = runner.run(
        "SELECT i.tag_node, i.tag, i.incident_id, t.record_count, i.window_start, i.window_end, "
        "t.reason, groupArray(i.affected) FROM active_tag_impacts AS i "
        "LEFT JOIN (SELECT node_id, tag, incident_id, record_count, reason FROM tags FINAL) AS t "
        "ON t.node_id = i.tag_node AND t.tag = i.tag AND t.incident_id = i.incident_id "
        f"WHERE i.affected IN {strings(nodes)} "
        "GROUP BY i.tag_node, i.tag, i.incident_id, t.record_count, i.window_start, "
        "i.window_end, t.reason ORDER BY i.incident_id, i.tag_node",
    )
    out.append(
        (
            "Open incidents",
            Table(
                [
                    "tag_node",
                    "tag",
                    "incident",
                    "records",
                    "window_start",
                    "window_end",
                    "reason",
                    "reaches",
                ],
                incidents.rows,
            )
            if incidents.rows
            else "No tag or incident in force reaches this lineage.",
        )
    )
    return f"Training data of {model}", out


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def markdown(title: str, body: list[Part]) -> str:
    lines = [f"# {title}", ""]
    for heading, part in body:
        lines += [f"## {heading}", ""]
        if isinstance(part, str):
            lines += [part, ""]
            continue
        lines.append("| " + " | ".join(part.columns) + " |")
        lines.append("|" + "---|" * len(part.columns))
        for row in part.rows:
            lines.append("| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def to_html(title: str, body: list[Part]) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        f'<html><head><meta charset="utf-8"><title>{e(title)}</title>',
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:2px 6px;text-align:left}</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    for heading, part in body:
        out.append(f"<h2>{e(heading)}</h2>")
        if isinstance(part, str):
            out.append(f"<p>{e(part)}</p>")
            continue
        out.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in part.columns) + "</tr>")
        for row in part.rows:
            out.append("<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in row) + "</tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def report(runner: QueryRunner, model_text: str, fmt: str = "md") -> str:
    title, body = parts(runner, model_text)
    return to_html(title, body) if fmt == "html" else markdown(title, body)
