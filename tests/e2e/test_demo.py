"""`lineage demo` end to end: the story through the SDK, real Kafka and a real worker, and
its figures checked against the generated data."""

from __future__ import annotations

import re

from lineage_processors.cli.demo_story import (
    AFFECTED_MODELS,
    BATCH,
    CATEGORY,
    MISLABELLED,
    WINDOW,
    predictions,
)
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, run_cli


def test_demo_tells_the_vendor_story_with_exact_figures(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    out = run_cli(settings, "demo", timeout=300)
    assert out.returncode == 0, out.stderr + worker.log()
    assert worker.proc is not None
    assert f"waiting for the worker (pid {worker.proc.pid}) to store them ..." in out.stdout
    routed = [
        p
        for p in predictions()
        if p.model_node in AFFECTED_MODELS
        and WINDOW[0] <= p.when < WINDOW[1]
        and p.output == CATEGORY
    ]
    customers = {p.customer for p in routed}
    assert 0 < len(routed) < len(predictions()) and len(customers) < len(routed)
    summary = out.stdout.split("In short: ", 1)[1]
    assert summary.split(";")[0] == (
        f"{MISLABELLED:,} mislabelled records in {BATCH} reached 3 model versions "
        f"({', '.join(sorted(AFFECTED_MODELS))})"
    )
    assert f"the category was {CATEGORY};" in summary
    assert (
        f"{len(routed):,} predictions were routed to it between 02 March and 23 March 2026, "
        f"concerning {len(customers):,} customers" in summary
    )
    assert "retraining intent-classifier@3.5.1 runs 3 of its 3 steps again" in summary
    # Every answer is printed under the command that produced it.
    for command in (
        "$ lineage impact incident:INC-2041",
        '$ lineage sql "SELECT DISTINCT model_node FROM model_upstream',
        "lineage subject customer-00042",
        f"$ lineage recipe intent-classifier@3.5.1 --replace {BATCH}=",
    ):
        assert command in out.stdout
    recipe = out.stdout.split("$ lineage recipe", 1)[1]
    steps = re.findall(r"^(\d)\s+run again\s+run:\S+\s+(\S+)", recipe, re.M)
    assert steps == [
        ("1", "job:support/apply-labels"),
        ("2", "job:support/split"),
        ("3", "training"),
    ]
