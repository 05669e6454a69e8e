"""The question commands of ``lineage``: upstream, downstream, impact, attribution, diff,
subject, report, recipe and sql.

Each reads the store through :func:`lineage_processors.answers.runner.query_runner` (a running
worker's read-only endpoint, or the store itself; never a store made up on the spot), prints
its answer as a table, JSON or CSV, and says plainly when the answer is empty.
"""

from __future__ import annotations

import argparse

from lineage_collector.ids import parse_node_id
from lineage_collector.subjects import Pseudonymizer
from lineage_processors.answers.inputs import (
    MAX_DEPTH,
    RELATIONS,
    check_depth,
    check_relations,
    parse_time,
    require_node,
)
from lineage_processors.answers.runner import query_runner
from lineage_processors.cli.command import EXIT_OK, NODE_HELP, TIME_NOTE, Add
from lineage_processors.cli.output import FORMATS, note, render, say, show, show_answer, write_out
from lineage_processors.settings import WorkerSettings


def cmd_walk(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.answers.walk import downstream, upstream

    parse_node_id(args.node)  # bad input is said before the store is looked for
    check_depth(args.depth)
    as_of = parse_time("--as-of", args.as_of)
    relations = check_relations(args.relation)
    ask = upstream if args.command == "upstream" else downstream
    with query_runner(settings) as runner:
        node = require_node(runner, args.node)
        table = ask(runner, node, args.depth, as_of, relations)
    when = f" as of {args.as_of}" if args.as_of else ""
    return show(table, args.format, f"{node} has no recorded {args.command} lineage{when}")


def cmd_impact(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.answers.impact import impact

    since = parse_time("--since", args.since) if args.since else None
    until = parse_time("--until", args.until) if args.until else None
    with query_runner(settings) as runner:
        answer = impact(runner, args.target, since, until)
    return show_answer(answer, args.format)


def cmd_attribution(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.answers.attribution import attribution

    with query_runner(settings) as runner:
        table = attribution(runner, args.inference)
    return show(table, args.format, "")


def cmd_diff(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.answers.diff import diff

    with query_runner(settings) as runner:
        table = diff(runner, args.a, args.b)
    return show(table, args.format, f"no difference in lineage between {args.a} and {args.b}")


def cmd_subject(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.answers.subject import subject

    pseudonymizer = Pseudonymizer(settings.subject_key.reveal())
    with query_runner(settings) as runner:
        answer = subject(runner, pseudonymizer, args.subject)
    return show_answer(answer, args.format)


def cmd_report(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.answers.report import report

    with query_runner(settings) as runner:
        text = report(runner, args.model, args.format)
    return write_out(text, args.output)


def cmd_recipe(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.answers.recipe import parse_replacements, recipe

    replace = parse_replacements(args.replace or [])
    with query_runner(settings) as runner:
        table = recipe(runner, args.model, replace)
    return show(table, args.format, f"no run is recorded in the lineage of {args.model}")


def cmd_sql(settings: WorkerSettings, args: argparse.Namespace) -> int:
    with query_runner(settings) as runner:
        table = runner.run(args.query)
    if not table.rows:
        note("the query returned no rows")
    say(render(table, args.format))
    return EXIT_OK


def register(add: Add) -> None:
    """Add the question commands to the ``lineage`` parser."""
    for name, text in (
        ("upstream", "Everything NODE was made from, nearest first."),
        ("downstream", "Everything made from NODE, nearest first."),
    ):
        p = add(name, cmd_walk, text)
        p.add_argument("node", metavar="NODE", help=NODE_HELP)
        p.add_argument(
            "--depth", type=int, default=20, help=f"hops to follow, 1-{MAX_DEPTH} (default 20)"
        )
        p.add_argument("--as-of", metavar="TIME", help=f"the graph as it was then ({TIME_NOTE})")
        p.add_argument(
            "--relation",
            action="append",
            choices=RELATIONS,
            help="follow only edges of this relation (repeat for several)",
        )
        p.add_argument("--format", choices=FORMATS, default="table")

    impact = add(
        "impact",
        cmd_impact,
        "Everything downstream of a source, dataset or incident (incident:ID), up to masking "
        "and anonymising steps: dataset versions, runs, models, deployments, and the "
        "predictions made in the window by what it reached (count, first and last, people, "
        "by model version and output).",
    )
    impact.add_argument("target", metavar="NODE|incident:ID")
    impact.add_argument(
        "--since",
        metavar="TIME",
        help=f"window start, inclusive ({TIME_NOTE}); an incident's own window by default",
    )
    impact.add_argument("--until", metavar="TIME", help="window end, exclusive")
    impact.add_argument("--format", choices=FORMATS, default="table")

    attr = add(
        "attribution",
        cmd_attribution,
        "The training data that may have influenced a prediction: deployment, model version, "
        "training run, dataset versions and splits, transformations, sources.",
    )
    attr.add_argument("inference", metavar="INFERENCE_ID", help="as logged, e.g. pred-81f3")
    attr.add_argument("--format", choices=FORMATS, default="table")

    diff = add(
        "diff",
        cmd_diff,
        "What differs between the lineage of two model versions: datasets and versions, "
        "splits, transformation parameters and code versions, hyperparameters, metrics.",
    )
    diff.add_argument("a", metavar="MODEL@V1", help="e.g. intent-classifier@3.4.1")
    diff.add_argument("b", metavar="MODEL@V2")
    diff.add_argument("--format", choices=FORMATS, default="table")

    subj = add(
        "subject",
        cmd_subject,
        "Everything recorded about a person (access and erasure requests): the id is "
        "pseudonymised with LINEAGE_SUBJECT_KEY, then the datasets and sources holding their "
        "records, the datasets made from those (masked where anonymised on the way), the "
        "model versions built from them, and the predictions about them.",
    )
    subj.add_argument("subject", metavar="ID", help="the person's id as the services know it")
    subj.add_argument("--format", choices=FORMATS, default="table")

    rep = add(
        "report",
        cmd_report,
        "The training-data documentation of a model version for auditors: sources, "
        "transformations with parameters, dataset versions and splits, training run, metrics, "
        "open incidents.",
    )
    rep.add_argument("model", metavar="MODEL@V")
    rep.add_argument("--format", choices=("md", "html"), default="md")
    rep.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")

    rec = add(
        "recipe",
        cmd_recipe,
        "How a model version was built, run by run in order, to build it again; with "
        "--replace OLD=NEW, which steps must run again on the new dataset version.",
    )
    rec.add_argument("model", metavar="MODEL@V")
    rec.add_argument(
        "--replace",
        action="append",
        metavar="OLD=NEW",
        help="use dataset version NEW instead of OLD, e.g. "
        "dataset:support/vendor-labels@v1=dataset:support/vendor-labels@v2",
    )
    rec.add_argument("--format", choices=FORMATS, default="table")

    sql = add(
        "sql",
        cmd_sql,
        "Run a read-only SQL query against the store (writes are refused). The views "
        "upstream_of, downstream_of, impact_of, attributions, model_lineage, model_diff, "
        "subject_holdings, subject_derived, subject_models, subject_predictions answer the "
        "questions above.",
    )
    sql.add_argument("query", metavar="QUERY")
    sql.add_argument("--format", choices=FORMATS, default="table")
