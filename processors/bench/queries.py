"""``lineage bench queries``: how fast each question is answered on a large store.

The store is built inside ClickHouse by :mod:`lineage_processors.bench.data` (1M nodes, 10M edges,
100M predictions at ``--scale 1``), in a folder of its own under ``<state>/bench/``, never
the user's store; a later run at the same scale reuses it (``--fresh`` builds it again).
Each question is then asked ``repeats`` times of different nodes, through the same code as
the commands, and its median and 95th percentile reported.
"""

from __future__ import annotations

import random
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from lineage_processors.answers.attribution import attribution
from lineage_processors.answers.impact import impact
from lineage_processors.answers.runner import QueryRunner, StoreRunner
from lineage_processors.answers.subject import by_pseudonym
from lineage_processors.answers.walk import downstream, upstream
from lineage_processors.bench import data as bench_data
from lineage_processors.bench.result import BenchResult
from lineage_processors.settings import WorkerSettings
from lineage_processors.store import migrate, open_store

# Targets at scale 1 on the 2-core development machine (medians).
TARGETS_MS = {
    "upstream": 50,
    "downstream": 50,
    "impact": 1000,
    "subject": 200,
    "attribution": 20,
}


def store_folder(settings: WorkerSettings, scale: float) -> Path:
    return settings.state_dir / "bench" / f"queries-x{scale:g}" / "chdb"


def questions(
    scale: bench_data.Scale, rng: random.Random
) -> dict[str, Callable[[QueryRunner], object]]:
    """One call per question, each asked of a different random node every time."""

    def pipeline() -> int:
        return rng.randrange(scale.pipelines)

    def model() -> str:
        return bench_data.node_id(pipeline(), rng.choice(bench_data.SLOTS_MODEL))

    def person() -> str:
        return bench_data.subject(rng.randrange(scale.subjects))

    return {
        "upstream": lambda r: upstream(r, model()),
        "downstream": lambda r: downstream(r, bench_data.node_id(pipeline(), 0)),
        "impact": lambda r: impact(r, bench_data.node_id(pipeline(), 0)),
        "subject": lambda r: by_pseudonym(r, person()),
        "attribution": lambda r: attribution(r, f"pred-{rng.randrange(scale.predictions)}"),
    }


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms"


def bench_queries(
    settings: WorkerSettings,
    scale_factor: float,
    repeats: int,
    fresh: bool = False,
    say: Callable[[str], None] = print,
) -> BenchResult:
    scale = bench_data.Scale.of(scale_factor)
    folder = store_folder(settings, scale_factor)
    if fresh and folder.exists():
        shutil.rmtree(folder.parent)
    store = open_store(f"chdb://{folder}", role="lineage bench queries")
    try:
        migrated = migrate(store)
        if bench_data.built(store, scale):
            say(f"reusing the synthetic store at {folder} (--fresh builds it again)")
            if migrated:
                bench_data.settle(store, say)
        else:
            say(f"building a synthetic store at {folder}")
            bench_data.build(store, scale, say)
        counts = {
            t: int(store.query(f"SELECT count() FROM {t}").result_rows[0][0])
            for t in ("nodes", "edges", "inferences")
        }
        result = BenchResult(
            f"Queries on {counts['nodes']:,} nodes, {counts['edges']:,} edges, "
            f"{counts['inferences']:,} predictions ({repeats} runs each)"
        )
        runner = StoreRunner(store)
        rng = random.Random(5)
        asks = questions(scale, rng)
        for name, ask in asks.items():
            ask(runner)  # the first run warms the caches for this kind of question
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                ask(runner)
                times.append((time.perf_counter() - t) * 1000)
            median = statistics.median(times)
            target = TARGETS_MS[name]
            verdict = "ok" if median < target else "OVER"
            result.add(name, f"{_ms(times)}   target < {target} ms: {verdict}")
            say(f"  {name}: {_ms(times)}")
        return result
    finally:
        store.close()
