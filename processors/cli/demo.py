"""``lineage demo``: the story from the field, with generated data, answered step by step.

The story (:mod:`lineage_processors.cli.demo_story`) is emitted through the SDK to Kafka; the
demo waits for the worker to store it, saying every few seconds how far it got and stopping at
once if the worker exits, then answers: which model versions were trained on the faulty batch,
which category it touched, which predictions were routed during the affected period and for
which customers, and how to retrain with the corrected labels. Each answer is printed under
the command that gives it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from lineage_collector.security import Secret
from lineage_collector.subjects import Pseudonymizer
from lineage_processors.answers.impact import impact
from lineage_processors.answers.recipe import recipe
from lineage_processors.answers.runner import QueryRunner, Table, query_runner
from lineage_processors.answers.subject import subject
from lineage_processors.cli.command import EXIT_OK, Add
from lineage_processors.cli.demo_story import (
    AFFECTED_MODELS,
    BATCH,
    FIXED,
    INCIDENT,
    WINDOW,
    emit_story,
    lineage_events,
    subject_key,
)
from lineage_processors.cli.output import FORMATS, render, render_answer, say
from lineage_processors.errors import LocalStackError, ProcessorError, QueryError
from lineage_processors.local import processes
from lineage_processors.local import worker as local_worker
from lineage_processors.settings import WorkerSettings
from lineage_processors.store import read_owner
from lineage_processors.store.owner import chdb_path

PROGRESS_SECONDS = 5.0
"""How often the demo says how far the worker got while it waits."""


@dataclass
class DemoResult:
    """The story's answers, as the store gave them."""

    mislabelled: int = 0
    models: list[str] = field(default_factory=list)
    category: str = ""
    routed: int = 0
    customers: int = 0
    recipe: Table | None = None


@dataclass(frozen=True)
class Stored:
    """How much of the story the store holds."""

    predictions: int
    expected: int
    models_reached: int
    """Model versions the incident has been carried to."""
    unresolved: int
    """Predictions not yet tied to the model version that made them."""

    @property
    def done(self) -> bool:
        """True once every prediction is stored and resolved and the incident has reached
        every affected model version."""
        return (
            self.predictions == self.expected
            and self.models_reached == len(AFFECTED_MODELS)
            and self.unresolved == 0
        )

    def __str__(self) -> str:
        return (
            f"{self.predictions:,} of {self.expected:,} predictions stored, "
            f"{self.unresolved:,} of them not yet tied to their model version; incident "
            f"{INCIDENT} carried to {self.models_reached} of {len(AFFECTED_MODELS)} model versions"
        )


def stored(runner: QueryRunner, expected: int) -> Stored:
    """How much of the story (``expected`` predictions) the store behind ``runner`` holds."""
    count = runner.run(
        "SELECT uniqExact(inference_id) FROM inferences WHERE startsWith(inference_id, 'demo-')"
    ).rows[0][0]
    reached = runner.run(
        "SELECT count() FROM active_tag_impacts WHERE incident_id = {i:String} AND kind = 'model'",
        {"i": INCIDENT},
    ).rows[0][0]
    unresolved = runner.run(
        "SELECT count() FROM inferences WHERE startsWith(inference_id, 'demo-') AND resolved = 0"
    ).rows[0][0]
    return Stored(int(count), expected, int(reached), int(unresolved))


@dataclass(frozen=True)
class StoringWorker:
    """The worker the demo waits for, watched so that the wait ends when it exits."""

    pid: int
    log_file: Path | None
    """Its log, when the demo knows it (the local stack's worker)."""

    def exited(self) -> bool:
        return not processes.alive(self.pid)

    def epitaph(self, progress: Stored | None) -> str:
        """What to say when it exited before the story was stored."""
        got = f" ({progress})" if progress is not None else ""
        message = f"the worker (pid {self.pid}) exited before it had stored the demo{got}"
        if self.log_file is None:
            return f"{message}; its log says why"
        tail = processes.log_tail(self.log_file)
        return f"{message}. The end of its log, {self.log_file}:\n{tail}"


def storing_worker(settings: WorkerSettings) -> StoringWorker | None:
    """The worker that is to store the story: the local stack's (``lineage up``), else the
    process that holds the embedded store; ``None`` with a ClickHouse server, whose workers
    may run anywhere. With an embedded store that no worker holds, nothing would ever store
    the story: that is an error saying how to start one."""
    local = local_worker.status(settings)
    if local.pid is not None:
        return StoringWorker(local.pid, local.log_file)
    url = settings.effective_clickhouse_url
    owner = read_owner(url)
    if owner is not None and owner.pid:
        return StoringWorker(owner.pid, None)
    if chdb_path(url) is None:
        return None
    raise LocalStackError(
        "no worker runs to store the demo: start the local stack with `lineage up` (or a "
        "worker with `lineage worker`), then run `lineage demo` again"
    )


def wait_until_stored(
    settings: WorkerSettings,
    expected: int,
    timeout: float,
    worker: StoringWorker | None,
    say: Callable[[str], None],
    every: float = PROGRESS_SECONDS,
    open_runner: Callable[[WorkerSettings], AbstractContextManager[QueryRunner]] = query_runner,
) -> None:
    """Return once the store holds the whole story (:func:`stored`). Says how far it got
    every ``every`` seconds; raises at once if ``worker`` exits, and after ``timeout``
    seconds."""
    started = time.monotonic()
    next_word = started + every
    progress: Stored | None = None
    while True:
        if worker is not None and worker.exited():
            raise LocalStackError(worker.epitaph(progress))
        try:
            with open_runner(settings) as runner:
                progress = stored(runner, expected)
        except QueryError:
            # A worker that is going away stops answering before its process is gone.
            if worker is not None and worker.exited():
                raise LocalStackError(worker.epitaph(progress)) from None
            raise
        if progress.done:
            return
        now = time.monotonic()
        if now - started > timeout:
            raise ProcessorError(
                f"the worker had not stored the demo within {timeout:.0f}s ({progress}); is it "
                "running (`lineage status`)? Its log is under the state folder's worker/."
            )
        if now >= next_word:
            say(f"  still waiting, {now - started:.0f} s: {progress}")
            next_word = now + every
        time.sleep(min(0.5, every))


def _sql(query: str) -> str:
    return " ".join(query.split())


MODELS_SQL = _sql(f"""
    SELECT DISTINCT model_node FROM model_upstream WHERE ancestor = '{BATCH}' ORDER BY model_node
""")
CATEGORY_SQL = _sql(f"""
    SELECT node_id AS run, value AS category FROM properties FINAL
    WHERE key = 'param.category' AND node_id IN (
        SELECT node FROM downstream_of(node = '{BATCH}', max_depth = 1,
                                       as_of = now64(3), relations = []))
""")
RECORDS_SQL = _sql(f"""
    SELECT node_id, tag, incident_id, record_count, window_start, window_end, reason
    FROM tags FINAL WHERE incident_id = '{INCIDENT}'
""")


def routed_sql(category: str) -> str:
    return _sql(f"""
        SELECT uniqExact(inference_id) AS predictions,
               uniqExactIf(subject, subject != '') AS customers,
               min(event_time) AS first, max(event_time) AS last
        FROM affected_predictions
        WHERE incident_id = '{INCIDENT}' AND output = '{category}'
    """)


def run_demo(
    settings: WorkerSettings,
    say: Callable[[str], None] = print,
    fmt: str = "table",
    timeout: float = 180.0,
) -> DemoResult:
    """Emit the story, wait for the worker to store it (at most ``timeout`` seconds), and
    answer its questions, printing each with ``say`` in ``fmt``."""
    settings.resolve_bootstrap()  # no Kafka: said before anything else
    worker = storing_worker(settings)
    key = subject_key(settings)
    story = settings.replace(subject_key=Secret(key))
    expected = emit_story(story)
    say(
        f"emitted the story: {len(lineage_events())} lineage events, {expected:,} predictions "
        f"and incident {INCIDENT}, to {settings.topic_events} and {settings.topic_inferences}"
    )
    by = f" (pid {worker.pid})" if worker is not None else ""
    say(f"waiting for the worker{by} to store them ...")
    wait_until_stored(settings, expected, timeout, worker, say)
    result = DemoResult()
    with query_runner(settings) as runner:

        def sql(query: str) -> Table:
            say(f'\n$ lineage sql "{query}"')
            table = runner.run(query)
            say(render(table, fmt))
            return table

        say("\n1. The incident: which records were wrong, and everything they reached.")
        records = sql(RECORDS_SQL)
        result.mislabelled = int(records.rows[0][3]) if records.rows else 0
        say(f"\n$ lineage impact incident:{INCIDENT}")
        say(render_answer(impact(runner, f"incident:{INCIDENT}"), fmt))

        say("\n2. The model versions trained on the batch, through any derived dataset.")
        result.models = [r[0] for r in sql(MODELS_SQL).rows]

        say("\n3. The category the vendor labelled.")
        category = sql(CATEGORY_SQL)
        result.category = category.rows[0][1] if category.rows else ""

        say(
            f"\n4. Predictions routed to {result.category} in the affected period, and the "
            "customers they concern."
        )
        routed = sql(routed_sql(result.category))
        result.routed, result.customers = int(routed.rows[0][0]), int(routed.rows[0][1])
        customer = "customer-00042"
        shown = "" if settings.subject_key.reveal() else f"LINEAGE_SUBJECT_KEY={key} "
        say("\n   What is recorded about one of them, for their access request:")
        say(f"$ {shown}lineage subject {customer}")
        say(render_answer(subject(runner, Pseudonymizer(key), customer), fmt))

        model = AFFECTED_MODELS[1].removeprefix("model:")
        say("\n5. The recipe to retrain the production model with the corrected labels.")
        say(f"$ lineage recipe {model} --replace {BATCH}={FIXED}")
        result.recipe = recipe(runner, model, {BATCH: FIXED})
        say(render(result.recipe, fmt))
    again = sum(1 for r in result.recipe.rows if r[1] == "run again")
    say(
        f"\nIn short: {result.mislabelled:,} mislabelled records in {BATCH} reached "
        f"{len(result.models)} model versions ({', '.join(result.models)}); the category was "
        f"{result.category}; {result.routed:,} predictions were routed to it between "
        f"{WINDOW[0]:%d %B} and {WINDOW[1]:%d %B %Y}, concerning {result.customers:,} "
        f"customers; retraining {model} runs {again} of its {len(result.recipe.rows)} steps "
        "again on the corrected labels."
    )
    return result


def cmd_demo(settings: WorkerSettings, args: argparse.Namespace) -> int:
    run_demo(settings, say=say, fmt=args.format)
    return EXIT_OK


def register(add: Add) -> None:
    """Add ``lineage demo`` to the ``lineage`` parser."""
    demo = add(
        "demo",
        cmd_demo,
        "The story from the field, with generated data through Kafka and the worker: a vendor "
        "delivered 2,000 wrongly labelled records; find the model versions trained on them, "
        "the category, the predictions and customers concerned, and the recipe to retrain. "
        "Prints each answer with the command that gives it. Needs `lineage up`.",
    )
    demo.add_argument("--format", choices=FORMATS, default="table")
