"""Checking what people type: node ids, model versions, prediction ids, times, depths.

Each check says what format is expected; a well-formed name the store does not know gets
"not found" with the nearest names it does know.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from lineage_collector.errors import NodeIdError
from lineage_collector.ids import parse_node_id
from lineage_processors.answers.runner import QueryRunner
from lineage_processors.errors import NotFoundError, QueryError

MAX_DEPTH = 100
# Where a time is not given: the beginning and the end of time, as ClickHouse stores them.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, tzinfo=UTC)
TIME_HELP = "expected ISO 8601, e.g. 2026-03-01, 2026-03-01T12:30:00Z or 2026-03-01 12:30+02:00"
RELATIONS = ("input", "output", "extracted", "job", "deployed", "parent")


def check_depth(depth: int) -> int:
    if not 1 <= depth <= MAX_DEPTH:
        raise QueryError(f"--depth must be between 1 and {MAX_DEPTH}, got {depth}")
    return depth


def parse_time(option: str, text: str | None, default: datetime = LATEST) -> datetime:
    """A time given as ISO 8601 (a date alone is its midnight; no zone means UTC)."""
    if text is None:
        return default
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{option} {text!r} is not a time: {TIME_HELP}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def sql_time(when: datetime) -> str:
    """How a query parameter of type DateTime64(3, 'UTC') takes ``when``."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def check_relations(relations: list[str] | None) -> list[str]:
    wanted = sorted(set(relations or []))
    for r in wanted:
        if r not in RELATIONS:
            raise QueryError(
                f"--relation {r!r} is not a relation: use one of {', '.join(RELATIONS)}"
            )
    return wanted


def nearest(runner: QueryRunner, name: str, where: str = "1") -> list[str]:
    """Up to five known node ids closest to ``name`` (among those ``where`` allows)."""
    table = runner.run(
        f"SELECT DISTINCT node_id FROM nodes WHERE {where} "
        "ORDER BY ngramDistance(node_id, {n:String}), node_id LIMIT 5",
        {"n": name},
    )
    return [r[0] for r in table.rows]


def not_found(
    what: str, names: list[str], empty: str = "the store holds no nodes yet"
) -> NotFoundError:
    hint = f"; nearest known: {', '.join(names)}" if names else f"; {empty}"
    return NotFoundError(f"{what} not found{hint}")


def require_node(runner: QueryRunner, node: str) -> str:
    """Validate ``node`` and make sure the store knows it; else suggest the nearest names."""
    node_id = str(parse_node_id(node))
    found = runner.run("SELECT count() FROM nodes WHERE node_id = {n:String}", {"n": node_id})
    if found.rows and found.rows[0][0]:
        return node_id
    raise not_found(node_id, nearest(runner, node_id))


MODEL_HELP = "expected MODEL@VERSION, e.g. intent-classifier@3.4.2 or model:intent-classifier@3.4.2"


def parse_model(text: str) -> str:
    """``name@version`` or ``model:name@version`` -> the model version's node id."""
    raw = text.strip()
    node = raw if raw.startswith("model:") else f"model:{raw}"
    try:
        parsed = parse_node_id(node)
    except NodeIdError:
        raise NodeIdError(f"{text!r} is not a model version: {MODEL_HELP}") from None
    if parsed.kind != "model" or not parsed.version:
        raise NodeIdError(f"{text!r} is not a model version: {MODEL_HELP}")
    return str(parsed)


def require_model(runner: QueryRunner, text: str) -> str:
    node = parse_model(text)
    found = runner.run("SELECT count() FROM nodes WHERE node_id = {n:String}", {"n": node}).rows[0][
        0
    ]
    if found:
        return node
    raise not_found(
        node, nearest(runner, node, "kind = 'model'"), "the store holds no model versions yet"
    )


_INFERENCE = re.compile(r"^[A-Za-z0-9_.\-][A-Za-z0-9_.\-/:+]*$")


def parse_inference(text: str) -> str:
    """A prediction id as logged (``inference:`` in front is allowed)."""
    raw = text.strip().removeprefix("inference:")
    if not _INFERENCE.match(raw):
        raise NodeIdError(
            f"{text!r} is not a prediction id: expected the id it was logged with, e.g. "
            "pred-81f3 or inference:pred-81f3 (letters, digits and . _ - / : +)"
        )
    return raw
