"""``lineage impact``: everything downstream of a source, dataset or incident, and the
predictions made in a time window by the model versions and deployments it reached.

For a node, what it reached is what a tag on it would reach: everything downstream, up to
masking and anonymising steps (:mod:`lineage_processors.answers.masking`). For an incident
(``incident:ID``), what the tag reached is read from ``active_tag_impacts``: the worker keeps
it as edges arrive, by the same rules, and the window defaults to the tag's own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lineage_processors.answers.inputs import (
    EARLIEST,
    LATEST,
    MAX_DEPTH,
    parse_time,
    require_node,
    sql_time,
)
from lineage_processors.answers.masking import load_masking, unmasked_reach
from lineage_processors.answers.runner import QueryRunner, Table
from lineage_processors.answers.sections import Answer
from lineage_processors.answers.walk import walk
from lineage_processors.derive.walks import strings
from lineage_processors.errors import NotFoundError

REACHED = ["depth", "node", "kind"]
PREDICTIONS = ["model_version", "output", "predictions", "subjects", "first", "last"]
TOTALS = ["predictions", "subjects", "first", "last", "since", "until"]


def _predictions(
    runner: QueryRunner,
    models: list[str],
    deployments: list[str],
    tagged: list[str],
    since: datetime,
    until: datetime,
) -> tuple[Table, Table]:
    """Predictions in [since, until) made by the model versions reached, and those at the
    ``tagged`` deployments (the start itself) whatever model served them.

    A prediction naming only its deployment was made by the model version the deployment
    served at its time (``served_model``): it counts when that version was reached, or,
    where no version is recorded as served then, when the deployment was.
    """
    # Rows sort by model, then deployment, then time: each IN below is a few key ranges.
    where = (
        f"(model_node IN {strings(models)} "
        f"OR (model_node = '' AND deployment IN {strings(deployments)} "
        f"AND served_model IN {strings(['', *models])})"
        f"OR deployment IN {strings(tagged)}) "
        "AND event_time >= {since:DateTime64(3, 'UTC')} "
        "AND event_time < {until:DateTime64(3, 'UTC')}"
    )
    params = {"since": sql_time(since), "until": sql_time(until)}
    # A prediction without a subject concerns nobody: it is no person of the count.
    people = "uniqExactIf(subject, subject != '')"
    sql = (
        "SELECT served_model AS model_version, output, uniqExact(inference_id) AS predictions, "
        f"{people} AS subjects, min(event_time) AS first, max(event_time) AS last "
        f"FROM inferences WHERE {where} GROUP BY model_version, output "
        "ORDER BY model_version, output"
    )
    table = runner.run(sql, params)
    totals = runner.run(
        f"SELECT uniqExact(inference_id), {people}, min(event_time), max(event_time) "
        f"FROM inferences WHERE {where}",
        params,
    )
    return table, totals


def incident_reach(
    runner: QueryRunner, incident: str
) -> tuple[Table, datetime | None, datetime | None]:
    """What an incident's tags reached, and the window of the tag (None where open)."""
    reached = runner.run(
        "SELECT min(depth) AS depth, affected AS node, any(kind) AS kind FROM active_tag_impacts "
        "WHERE incident_id = {i:String} GROUP BY node ORDER BY depth, node",
        {"i": incident},
    )
    if not reached.rows:
        known = runner.run(
            "SELECT DISTINCT incident_id FROM tags WHERE incident_id != '' "
            "ORDER BY ngramDistance(incident_id, {i:String}), incident_id LIMIT 5",
            {"i": incident},
        )
        names = [f"incident:{r[0]}" for r in known.rows]
        hint = f"; nearest known: {', '.join(names)}" if names else "; no incident is recorded"
        raise NotFoundError(f"incident:{incident} not found among incidents in force{hint}")
    window = runner.run(
        "SELECT min(window_start), max(window_end), countIf(window_start IS NULL), "
        "countIf(window_end IS NULL) FROM active_tag_impacts WHERE incident_id = {i:String}",
        {"i": incident},
    ).rows[0]
    start = None if window[2] else _as_time(window[0])
    end = None if window[3] else _as_time(window[1])
    return reached, start, end


def shown(when: datetime) -> str:
    """A time as answers show them: ISO 8601 in UTC, without the zone."""
    return when.astimezone(UTC).replace(tzinfo=None).isoformat()


def _as_time(value: object) -> datetime | None:
    return None if value is None else parse_time("window", str(value))


def impact(
    runner: QueryRunner, target: str, since: datetime | None = None, until: datetime | None = None
) -> Answer:
    """Reached nodes, prediction totals, and predictions by model version and output."""
    if target.startswith("incident:"):
        reached, start, end = incident_reach(runner, target.removeprefix("incident:"))
        since = since or start
        until = until or end
    else:
        node = require_node(runner, target)
        # Everything below, then what of it a tag on the node would reach: the masking
        # steps are known once the walk has met the runs.
        _, edges = walk(runner, node, "down", MAX_DEPTH)
        depths = unmasked_reach(edges, [node], load_masking(runner, edges))
        rows = [[d, n, n.split(":", 1)[0]] for n, d in depths.items() if n != node]
        reached = Table(REACHED, sorted(rows, key=lambda r: (r[0], r[1])))
    since, until = since or EARLIEST, until or LATEST
    models = [r[1] for r in reached.rows if r[2] == "model"]
    deployments = [r[1] for r in reached.rows if r[2] == "deployment"]
    # A tag on a deployment itself reaches every prediction made there.
    tagged = [r[1] for r in reached.rows if r[2] == "deployment" and r[0] == 0]
    if target.startswith("deployment:"):
        tagged.append(target)
    answer = Answer()
    answer.add("reached", reached, f"nothing is recorded downstream of {target}")
    if not models and not deployments and not tagged:
        answer.notes.append(f"no model version or deployment is downstream of {target}")
        return answer
    by_output, totals = _predictions(runner, models, deployments, tagged, since, until)
    count, subjects, first, last = totals.rows[0]
    window = [
        None if since == EARLIEST else shown(since),
        None if until == LATEST else shown(until),
    ]
    if not count:
        first = last = None
    answer.add("predictions", Table(TOTALS, [[count, subjects, first, last, *window]]))
    answer.add(
        "by model version and output",
        Table(PREDICTIONS, by_output.rows),
        "no predictions were made in the window by what it reached",
    )
    return answer
