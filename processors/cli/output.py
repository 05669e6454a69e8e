"""How ``lineage`` prints: a :class:`Table`, or an answer in several sections, as aligned
text, JSON or CSV on stdout; what is not data (empty answers, notes, progress of the local
stack) as lines on stderr or stdout."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from lineage_processors.answers.runner import Table
from lineage_processors.answers.sections import Answer
from lineage_processors.cli.command import EXIT_OK

FORMATS = ("table", "json", "csv")


def say(message: str) -> None:
    """A line on stdout, at once (progress must show while the command waits)."""
    print(message, flush=True)


def note(message: str) -> None:
    """A line on stderr: what is not data, so that stdout stays parseable."""
    print(message, file=sys.stderr, flush=True)


def show(table: Table, fmt: str, empty: str) -> int:
    """Print ``table``; when it has no rows, say ``empty`` instead (exit status 0)."""
    if not table.rows:
        note(empty)
        return EXIT_OK
    say(render(table, fmt))
    return EXIT_OK


def show_answer(answer: Answer, fmt: str) -> int:
    """Print every section of ``answer``; its notes go to stderr unless they are part of a
    table answer."""
    if answer.sections:
        say(render_answer(answer if fmt == "table" else Answer(answer.sections), fmt))
    if fmt != "table" or not answer.sections:
        for line in answer.notes:
            note(line)
    return EXIT_OK


def write_out(text: str, output: str | None) -> int:
    """Write ``text`` to the file ``output``, or to stdout without one."""
    if output:
        Path(output).write_text(text)
        note(f"written to {output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def render(table: Table, fmt: str) -> str:
    """The table in ``fmt`` (table, json or csv), ending without a newline."""
    if fmt == "json":
        return json.dumps(
            [dict(zip(table.columns, row, strict=True)) for row in table.rows],
            indent=2,
            default=str,
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows([[_cell(v) for v in row] for row in table.rows])
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in row] for row in table.rows]
    widths = [len(c) for c in table.columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(table.columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
    return "\n".join(lines)


def render_answer(answer: Answer, fmt: str) -> str:
    """Every section of ``answer`` in ``fmt``.

    table: each section under its title, then the notes. json: one object, a list of rows
    per section and the notes under "notes". csv: each section's rows after a ``# title``
    line, sections apart by a blank line; notes are not data, the command prints them on
    stderr.
    """
    if fmt == "json":
        doc: dict[str, Any] = {
            title: [dict(zip(t.columns, row, strict=True)) for row in t.rows]
            for title, t in answer.sections
        }
        doc["notes"] = answer.notes
        return json.dumps(doc, indent=2, default=str)
    if fmt == "csv":
        return "\n\n".join(f"# {title}\n{render(t, 'csv')}" for title, t in answer.sections)
    parts = [f"{title}:\n{render(t, 'table')}" for title, t in answer.sections]
    parts += answer.notes
    return "\n\n".join(parts)
