"""The ``lineage`` command line.

Every expected failure ends as one line on stderr saying what went wrong and what to do, and
a meaningful exit code: 0 success, 1 failure, 2 bad input, 3 not running, 4 not found.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib.metadata
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from lineage_collector.errors import ConfigError, LineageError, NodeIdError
from lineage_collector.log_hygiene import RepeatFilter
from lineage_collector.security import redact_in_logs
from lineage_processors.cli import demo, graph, questions, stack
from lineage_processors.cli.command import (
    EXIT_BAD_INPUT,
    EXIT_FAIL,
    EXIT_NOT_FOUND,
    EXIT_OK,
    Handler,
)
from lineage_processors.cli.output import say
from lineage_processors.errors import NotFoundError, ProcessorError, QueryError
from lineage_processors.local.state import with_state_dir
from lineage_processors.settings import WorkerSettings, settings_table

DISTRIBUTION = "lineage-collector"
CREATING = frozenset({"up", "worker"})
"""The commands that create the state folder if there is none (see
:mod:`lineage_processors.local.state`); the others only read what is there."""

EPILOG = """\
examples:
  lineage up                                   start local Kafka and a worker
  lineage demo                                 the vendor story, answered step by step
  lineage upstream model:intent-classifier@3.4.2 --as-of 2026-03-01
  lineage impact incident:INC-2041 --format json
  lineage diff intent-classifier@3.4.1 intent-classifier@3.4.2
  lineage graph model:intent-classifier@3.4.2 --output lineage.svg
  lineage sql "SELECT kind, count() FROM nodes GROUP BY kind" --format csv
  lineage down                                 stop what `up` started

Settings come from LINEAGE_* environment variables; `lineage settings` lists them all.
The state folder is LINEAGE_STATE_DIR, else the nearest .lineage folder here or above, else
~/.local/state/lineage-collector; `lineage status` shows which.
"""


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{raw} is not a positive whole number")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{raw} is not a positive number")
    return value


def cmd_worker(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.worker.app import run_worker
    from lineage_processors.worker.memory import lean_worker_process

    lean_worker_process()  # this process is the worker and nothing else
    # A fatal signal inside a native library (chDB, librdkafka) leaves the Python stacks of
    # every thread in the worker's log rather than a log that just stops.
    faulthandler.enable(all_threads=True)
    run_worker(settings, args.log_file)
    return EXIT_OK


def cmd_bench(settings: WorkerSettings, args: argparse.Namespace) -> int:
    from lineage_processors.bench import ingest, sdk

    if args.what == "queries":
        from lineage_processors.bench.queries import bench_queries

        result = bench_queries(settings, args.scale, args.repeats, fresh=args.fresh, say=say)
    elif args.what == "sdk":
        result = sdk.bench_sdk(settings, args.events, say=say)
    elif args.rate is not None:
        from lineage_processors.bench.freshness import bench_freshness

        result = bench_freshness(settings, args.kind, args.rate, args.seconds, say=say)
    else:
        if args.with_reads:
            result = ingest.bench_ingest_with_reads(settings, args.events, args.kind, say=say)
        else:
            result = ingest.bench_ingest(settings, args.events, args.kind, say=say)
    say("")
    say(result.render())
    return EXIT_OK


def cmd_settings(settings: WorkerSettings, args: argparse.Namespace) -> int:
    say(settings_table())
    return EXIT_OK


def version() -> str:
    """The installed version of the project."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lineage",
        description="Data lineage for AI: collect lineage events from Kafka into ClickHouse "
        "and answer questions about them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    stack.register(add)
    worker = add(
        "worker",
        cmd_worker,
        "Run a worker in the foreground: consume lineage events and "
        "write them to ClickHouse; serve read-only SQL at /sql. Stop with Ctrl-C.",
    )
    worker.add_argument(
        "--log-file",
        type=Path,
        help="log to this file instead of stderr, rotated at LINEAGE_LOG_MAX_BYTES "
        "(LINEAGE_LOG_BACKUPS kept), with the process's stdout and stderr",
    )
    demo.register(add)
    questions.register(add)
    graph.register(add)
    bench = add(
        "bench",
        cmd_bench,
        "Measure throughput against the ceilings of the parts underneath, in one run. "
        "`sdk`: inference logging into Kafka vs fastavro encoding and the raw producer. "
        "`ingest`: events through Kafka and a worker into the store until lag is zero, vs "
        "raw Kafka consumption and fastavro decoding of the same records; with --rate, "
        "events at a steady rate and how long each takes to become queryable. "
        "`queries`: median and p95 of each question on a synthetic store of 1M nodes, 10M "
        "edges and 100M predictions (times --scale), built in a store of its own.",
    )
    bench.add_argument("what", choices=["sdk", "ingest", "queries"], help="what to measure")
    bench.add_argument(
        "--kind",
        choices=["inferences", "graph"],
        default="inferences",
        help="ingest: which events (default inferences)",
    )
    bench.add_argument("--events", type=int, default=1_000_000, help="events to send")
    bench.add_argument(
        "--rate",
        type=_positive_int,
        help="ingest: send this many events per second instead of a backlog, and measure "
        "event time to queryable",
    )
    bench.add_argument(
        "--seconds", type=float, default=20.0, help="ingest --rate: how long to send (default 20)"
    )
    bench.add_argument(
        "--with-reads",
        action="store_true",
        help="ingest: run it twice, alone and with heavy reads sent to the worker all along, "
        "and report the rate kept (a ratio) and the worker's memory in each",
    )
    bench.add_argument(
        "--scale",
        type=_positive_float,
        default=1.0,
        help="queries: size of the synthetic store, 1 = 1M nodes, 10M edges, 100M predictions",
    )
    bench.add_argument(
        "--repeats", type=_positive_int, default=20, help="queries: times each query runs"
    )
    bench.add_argument(
        "--fresh", action="store_true", help="queries: build the store again even if one exists"
    )
    add("settings", cmd_settings, "List every setting and its environment variable.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = with_state_dir(
            WorkerSettings.from_env(), os.environ, Path.cwd(), creating=args.command in CREATING
        )
        # Passwords and keys never reach a log line, whoever writes it.
        redact_in_logs(settings.secret_values())
        stderr = logging.StreamHandler()
        stderr.addFilter(RepeatFilter())  # a retry loop says it once a minute
        logging.basicConfig(
            level=settings.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            handlers=[stderr],
        )
        if settings.log_level != "DEBUG":
            # Retries while a broker starts are routine; the SDK reports real failures itself.
            logging.getLogger("lineage_collector.kafka").setLevel(logging.ERROR)
        code: int = args.handler(settings, args)
    except (NodeIdError, ConfigError) as exc:
        print(f"lineage: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NotFoundError as exc:
        print(f"lineage: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except QueryError as exc:
        print(f"lineage: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (LineageError, ProcessorError) as exc:
        print(f"lineage: error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
