"""A synthetic store for ``lineage bench queries``, built inside ClickHouse.

The graph is many pipelines of one shape (:func:`pipeline`): 100 nodes and 1,000 edges each,
a source extracted into a dataset, 47 runs each reading about twenty earlier dataset versions
and writing the next, three model versions trained by the last runs, one deployment. Real
lineage looks like this: dense inside a pipeline, with walks a handful of hops deep, and
little between pipelines. Every table is filled by ``INSERT ... SELECT`` over ``numbers()``
with the pipeline's shape as array literals, so a million nodes, ten million edges and a
hundred million predictions never pass through Python.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lineage_processors.store.connect import Store

NODES_PER_PIPELINE = 100
EDGES_PER_PIPELINE = 1000
SLOTS_RUN = range(2, 95, 2)  # 47 runs; run s writes dataset s + 1
SLOTS_DATASET = range(1, 96, 2)  # 48 dataset versions
SLOTS_MODEL = (96, 97, 98)  # trained by runs 94, 92, 90
SLOT_DEPLOYMENT = 99  # serves the first model
TRAINED_BY = {96: 94, 97: 92, 98: 90}
# Full scale: 10,000 pipelines (1M nodes, 10M edges) and 100M predictions.
PIPELINES = 10_000
PREDICTIONS = 100_000_000
SUBJECTS = 1_000_000
DAYS = 90
START = "2026-01-01 00:00:00"
INSERT_CHUNK = 10_000_000


@dataclass(frozen=True)
class Shape:
    """One pipeline: edges between slots, and each model's ancestors with their depth."""

    edges: list[tuple[int, int, str, str]]  # (src slot, dst slot, relation, role)
    ancestors: dict[int, dict[int, int]]  # model slot -> {ancestor slot: depth}


def kind(slot: int) -> str:
    if slot == 0:
        return "source"
    if slot in SLOTS_MODEL:
        return "model"
    if slot == SLOT_DEPLOYMENT:
        return "deployment"
    return "dataset" if slot % 2 else "run"


def pipeline() -> Shape:
    """The shape every pipeline shares."""
    edges: list[tuple[int, int, str, str]] = [(0, 1, "extracted", "")]
    edges += [(s, s + 1, "output", "") for s in SLOTS_RUN]
    edges += [(run, model, "output", "") for model, run in TRAINED_BY.items()]
    edges.append((SLOTS_MODEL[0], SLOT_DEPLOYMENT, "deployed", ""))
    # Inputs, nearest dataset versions first, one more per run in turn until the pipeline
    # holds its 1,000 edges: each run reads about twenty versions written before it.
    reach = 0
    while len(edges) < EDGES_PER_PIPELINE:
        for run in reversed(SLOTS_RUN):
            dataset = run - 1 - 2 * reach
            if dataset >= 1 and len(edges) < EDGES_PER_PIPELINE:
                training = run in TRAINED_BY.values()
                role = ("validation" if reach == 1 else "train") if training else ""
                edges.append((dataset, run, "input", role))
        reach += 1
    up: dict[int, list[int]] = {}
    for src, dst, _, _ in edges:
        up.setdefault(dst, []).append(src)
    ancestors = {}
    for model in SLOTS_MODEL:
        depth: dict[int, int] = {}
        queue = deque([(model, 0)])
        while queue:
            node, d = queue.popleft()
            for src in up.get(node, []):
                if src not in depth:
                    depth[src] = d + 1
                    queue.append((src, d + 1))
        ancestors[model] = depth
    return Shape(edges, ancestors)


def node_sql(pipeline_expr: str, slot_expr: str) -> str:
    """SQL for the node id of ``slot`` in pipeline ``p`` (both SQL expressions)."""
    p, s = f"toString({pipeline_expr})", f"toString({slot_expr})"
    return (
        f"multiIf({slot_expr} = 0, concat('source:bench/p', {p}), "
        f"{slot_expr} IN (96, 97, 98), concat('model:bench-p', {p}, '-m', {s}, '@1.0'), "
        f"{slot_expr} = 99, concat('deployment:bench/p', {p}), "
        f"{slot_expr} % 2 = 1, concat('dataset:bench/p', {p}, '/d', {s}, '@v1'), "
        f"concat('run:bench-p', {p}, '-r', {s}))"
    )


def node_id(p: int, slot: int) -> str:
    """The node id :func:`node_sql` makes, for picking query targets."""
    k = kind(slot)
    if k == "source":
        return f"source:bench/p{p}"
    if k == "model":
        return f"model:bench-p{p}-m{slot}@1.0"
    if k == "deployment":
        return f"deployment:bench/p{p}"
    if k == "dataset":
        return f"dataset:bench/p{p}/d{slot}@v1"
    return f"run:bench-p{p}-r{slot}"


def subject_sql(n: str) -> str:
    """A pseudonym-like subject for person number ``n`` (the same form as the SDK's)."""
    return f"lower(hex(SHA256(concat('person-', toString({n})))))"


def subject(n: int) -> str:
    """The pseudonym :func:`subject_sql` gives person number ``n``."""
    return hashlib.sha256(f"person-{n}".encode()).hexdigest()


def _ints(values: list[int]) -> str:
    return "[" + ",".join(map(str, values)) + "]"


def _strs(values: list[str]) -> str:
    return "[" + ",".join(f"'{v}'" for v in values) + "]"


@dataclass(frozen=True)
class Scale:
    pipelines: int
    predictions: int
    subjects: int

    @classmethod
    def of(cls, scale: float) -> Scale:
        return cls(
            max(2, round(PIPELINES * scale)),
            max(1000, round(PREDICTIONS * scale)),
            max(100, round(SUBJECTS * scale)),
        )


def build(store: Store, scale: Scale, say: Callable[[str], None]) -> None:
    """Fill a freshly migrated store with the synthetic lineage, with progress lines."""
    shape = pipeline()
    src = _ints([e[0] for e in shape.edges])
    dst = _ints([e[1] for e in shape.edges])
    rel = _strs([e[2] for e in shape.edges])
    role = _strs([e[3] for e in shape.edges])
    when = f"toDateTime64('{START}', 3, 'UTC')"
    started = time.monotonic()

    def step(what: str, sql: str) -> None:
        t = time.monotonic()
        store.command(sql, settings={"max_insert_threads": 2, "max_threads": 2})
        say(f"  {what} ({time.monotonic() - t:.1f}s)")

    say(
        f"building {scale.pipelines * NODES_PER_PIPELINE:,} nodes, "
        f"{scale.pipelines * EDGES_PER_PIPELINE:,} edges, {scale.predictions:,} predictions"
    )
    step(
        "nodes",
        f"""
        INSERT INTO nodes (node_id, kind, name, version, namespace, event_time, event_id)
        SELECT id, splitByChar(':', id)[1], splitByChar('@', splitByChar(':', id)[2])[1],
               if(position(id, '@') > 0, splitByChar('@', id)[2], ''), 'bench', {when}, ''
        FROM (SELECT {node_sql("intDiv(number, 100)", "number % 100")} AS id
              FROM numbers({scale.pipelines * NODES_PER_PIPELINE}))
        """,
    )
    step(
        "edges",
        f"""
        INSERT INTO edges (src, dst, relation, role, event_time, run_id, event_id)
        SELECT {node_sql("p", "s")}, {node_sql("p", "d")}, r, o,
               {when} + toIntervalMinute(p % 1440), '', ''
        FROM (SELECT intDiv(number, {EDGES_PER_PIPELINE}) AS p,
                     number % {EDGES_PER_PIPELINE} + 1 AS k,
                     arrayElement({src}, k) AS s, arrayElement({dst}, k) AS d,
                     arrayElement({rel}, k) AS r, arrayElement({role}, k) AS o
              FROM numbers({scale.pipelines * EDGES_PER_PIPELINE}))
        """,
    )
    runs = list(SLOTS_RUN)
    step(
        "run properties",
        f"""
        INSERT INTO properties (node_id, key, value, event_time, event_id)
        SELECT {node_sql("p", "s")}, kv.1, kv.2, {when}, ''
        FROM (SELECT intDiv(number, {len(runs)}) AS p,
                     arrayElement({_ints(runs)}, number % {len(runs)} + 1) AS s
              FROM numbers({scale.pipelines * len(runs)}))
        ARRAY JOIN [('status', 'COMPLETED'), ('code_version', concat('git:', toString(p % 97))),
                    ('param.threshold', toString(s / 100))] AS kv
        """,
    )
    models = list(SLOTS_MODEL)
    trained = {m: [(e[0], e[3]) for e in shape.edges if e[1] == TRAINED_BY[m]] for m in models}
    inputs = "[" + ",".join(_ints([s for s, _ in trained[m]]) for m in models) + "]"
    roles = "[" + ",".join(_strs([r for _, r in trained[m]]) for m in models) + "]"
    by = _ints([TRAINED_BY[m] for m in models])
    step(
        "model training",
        f"""
        INSERT INTO model_training (model_node, training_run, datasets, roles, code_version,
                                    event_time, event_id)
        SELECT {node_sql("p", "m + 96")}, {node_sql("p", f"arrayElement({by}, m + 1)")},
               arrayMap(x -> {node_sql("p", "x")}, arrayElement({inputs}, m + 1)),
               arrayElement({roles}, m + 1), 'git:bench', {when}, ''
        FROM (SELECT intDiv(number, 3) AS p, number % 3 AS m FROM numbers({scale.pipelines * 3}))
        """,
    )
    step(
        "deployments",
        f"""
        INSERT INTO deployments (deployment, model_node, environment, valid_from, valid_until,
                                 event_time, event_id)
        SELECT {node_sql("number", "99")}, {node_sql("number", "96")}, 'prod', {when}, NULL,
               {when}, ''
        FROM numbers({scale.pipelines})
        """,
    )
    closure = [(m, a, d) for m in models for a, d in sorted(shape.ancestors[m].items())]
    step(
        "model closures",
        f"""
        INSERT INTO model_upstream (model_node, ancestor, depth, since)
        SELECT {node_sql("p", "c.1")}, {node_sql("p", "c.2")}, c.3, {when}
        FROM (SELECT number AS p FROM numbers({scale.pipelines}))
        ARRAY JOIN arrayZip({_ints([c[0] for c in closure])}, {_ints([c[1] for c in closure])},
                            {_ints([c[2] for c in closure])}) AS c
        """,
    )
    # Each person's records sit in the extracted dataset of three pipelines.
    step(
        "subject links",
        f"""
        INSERT INTO subject_links (subject, key_id, node_id, event_time, event_id)
        SELECT {subject_sql("intDiv(number, 3)")}, 'bench',
               {node_sql(f"(intDiv(number, 3) * 7 + number % 3) % {scale.pipelines}", "1")},
               {when}, ''
        FROM numbers({scale.subjects * 3})
        """,
    )
    store.command("SYSTEM RELOAD DICTIONARY model_training_dict")
    store.command("SYSTEM RELOAD DICTIONARY deployment_models")
    # Predictions: each model version of each pipeline in turn, spread over DAYS days, about
    # a random person each; the first model's through its deployment.
    seconds = DAYS * 86400
    done = 0
    while done < scale.predictions:
        n = min(INSERT_CHUNK, scale.predictions - done)
        step(
            f"predictions {done + n:,} of {scale.predictions:,}",
            f"""
            INSERT INTO inferences (inference_id, model_node, deployment, event_time, subject,
                                    inputs, input_datasets, output, event_id)
            SELECT concat('pred-', toString(number)),
                   {node_sql(f"intDiv(number, 3) % {scale.pipelines}", "96 + number % 3")},
                   if(number % 3 = 0, {node_sql(f"intDiv(number, 3) % {scale.pipelines}", "99")},
                      ''),
                   {when} + toIntervalSecond(intHash32(number) % {seconds}),
                   {subject_sql(f"intHash64(number) % {scale.subjects}")},
                   [], [], arrayElement(['billing', 'refund', 'account', 'other'],
                                        number % 4 + 1), ''
            FROM numbers({done}, {n})
            """,
        )
        done += n
    settle(store, say)
    # Marks the store complete: a later run at the same scale reuses it.
    store.command("CREATE TABLE IF NOT EXISTS bench_built (scale String) ENGINE = Log")
    store.command(f"INSERT INTO bench_built VALUES ('{scale}')")
    say(f"built in {time.monotonic() - started:.0f}s")


SETTLED = ("nodes", "edges", "model_upstream", "subject_links", "properties", "inferences")


def settle(store: Store, say: Callable[[str], None]) -> None:
    """Merge what is not merged yet (after the build, or after migrations rewrote a table).

    A store that has been running a while has merged its parts in the background; a fresh
    one would be measured with a hundred parts per table, each searched on every lookup.
    The questions are timed on the store as it runs.
    """
    parts: dict[str, int] = {
        str(table): int(extra)
        for table, extra in store.query(
            "SELECT table, count() - uniqExact(partition_id) FROM system.parts "
            "WHERE active AND database = currentDatabase() GROUP BY table"
        ).result_rows
    }
    for table in SETTLED:
        if parts.get(table, 0):
            t = time.monotonic()
            store.command(f"OPTIMIZE TABLE {table} FINAL", settings={"max_threads": 2})
            say(f"  merged {table} ({time.monotonic() - t:.1f}s)")


def built(store: Store, scale: Scale) -> bool:
    """Whether ``store`` already holds the synthetic lineage at ``scale``."""
    rows = store.query(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() "
        "AND name = 'bench_built'"
    ).result_rows
    if not rows[0][0]:
        return False
    return bool(
        store.query(
            "SELECT count() FROM bench_built WHERE scale = {s:String}", {"s": str(scale)}
        ).result_rows[0][0]
    )
