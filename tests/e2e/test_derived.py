"""State derived from lineage, end to end: SDK -> real Kafka -> worker -> chDB, exact rows.

Attribution of predictions to training (at insert, and later when the lineage comes late),
the transitive upstream closure of model versions (with a late edge), and tags propagating
downstream to predictions in their window, stopping at masking, and retracted.

One worker serves the whole module; every test uses node names of its own.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lineage_collector import DatasetRef, LineageClient
from lineage_collector.events import (
    Deployment,
    SourceExtraction,
    Tag,
    TrainingRun,
    TransformationRun,
)
from lineage_processors.settings import WorkerSettings
from tests.conftest import WorkerProcess, isolated_settings, run_cli

BASE = datetime(2026, 4, 1, tzinfo=UTC)


def at(hour: int) -> datetime:
    return BASE + timedelta(hours=hour)


def iso(hour: int) -> str:
    """How the query endpoint shows ``at(hour)``."""
    return at(hour).replace(tzinfo=None).isoformat()


def run(name: str) -> str:
    """A stable run UUID per readable name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"test-derived/{name}"))


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> WorkerSettings:
    """Like conftest's ``settings``, for the module: topics, group, store and port of its own."""
    return isolated_settings(tmp_path_factory.mktemp("derived") / "state", kafka_bootstrap)


@pytest.fixture(scope="module")
def worker(settings: WorkerSettings) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(settings).start()
    yield proc
    proc.stop()


def emit(settings: WorkerSettings, *events: tuple[Any, datetime]) -> list[str]:
    """Emit graph events with the given event times; returns their event ids."""
    with LineageClient.from_settings(settings, namespace="test") as client:
        return [client.emit(event, event_time=when) for event, when in events]


def predict(settings: WorkerSettings, *predictions: tuple[str, dict[str, Any], int]) -> None:
    """Emit predictions: (inference id, model/deployment fields, hour)."""
    with LineageClient.from_settings(settings, namespace="test") as client:
        for inference_id, served_by, hour in predictions:
            client.emit_inference(inference_id, output="yes", event_time=at(hour), **served_by)


def settle(settings: WorkerSettings, worker: WorkerProcess, event_ids: list[str]) -> None:
    """Return once the worker has stored ``event_ids`` and run every step after them.

    Graph batches are stored, and handed to the derived steps, one after another; the steps
    record how far they got in ``derived_progress`` once a whole run is done. So once a
    barrier event emitted after the events is covered there, the events are too. (The
    barrier's own derived rows are no proof: they may show while the run is still writing.)
    """
    worker.wait_for(
        "SELECT event_id FROM events_raw WHERE event_id IN ("
        + ", ".join(f"'{e}'" for e in event_ids)
        + ")",
        len(event_ids),
    )
    [barrier] = emit(settings, (Tag(f"source:barrier-{uuid.uuid4().hex[:8]}", "barrier"), at(0)))
    [[topic, partition, offset]] = worker.wait_for(
        f"SELECT topic, partition, offset FROM events_raw WHERE event_id = '{barrier}'", 1
    ).rows
    worker.wait_for(
        f"SELECT 1 FROM derived_progress WHERE topic = '{topic}' AND partition = {partition} "
        f"AND offset >= {offset} LIMIT 1",
        1,
    )


def wait_rows(
    worker: WorkerProcess,
    sql: str,
    expected: int,
    params: dict[str, Any] | None = None,
    timeout: float = 60,
) -> list[list[Any]]:
    """Poll ``sql`` until it returns ``expected`` rows; fail with the worker's log."""
    deadline = time.monotonic() + timeout
    rows = worker.query(sql, params).rows
    while len(rows) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = worker.query(sql, params).rows
    assert len(rows) == expected, f"got {rows}\nworker log:\n{worker.log()}"
    return rows


def wait_equal(
    worker: WorkerProcess, sql: str, expected: list[list[Any]], timeout: float = 60
) -> None:
    """Poll ``sql`` until it answers exactly ``expected``."""
    deadline = time.monotonic() + timeout
    rows = worker.query(sql).rows
    while rows != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = worker.query(sql).rows
    assert rows == expected, f"got {rows}\nworker log:\n{worker.log()}"


def rewrites(worker: WorkerProcess) -> int:
    """How many times ``inferences`` was rewritten (mutations) so far."""
    return int(
        worker.query(
            "SELECT count() FROM system.mutations WHERE database = currentDatabase() "
            "AND table = 'inferences'"
        ).rows[0][0]
    )


ATTRIBUTION = (
    "SELECT inference_id, model_node, deployment, served_model, training_run, "
    "training_datasets, training_roles, resolved FROM attributions "
    "WHERE inference_id LIKE {prefix:String} ORDER BY inference_id"
)


def test_predictions_are_attributed_as_they_are_stored(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    model, deployment, training = "model:churn-a@1.0", "deployment:prod/churn-a", run("a")
    emit(
        settings,
        (
            TrainingRun(
                "churn-a",
                "1.0",
                [
                    DatasetRef("a/accounts", "v3", "train"),
                    DatasetRef("a/accounts", "v3-holdout", "validation"),
                ],
                run_id=training,
                code_version="git:a1",
            ),
            at(1),
        ),
        (Deployment("prod/churn-a", "prod", "churn-a", "1.0", at(2)), at(2)),
    )
    # The worker reloads its dictionaries after storing lineage: from then on, predictions
    # are attributed as they are inserted.
    wait_equal(
        worker,
        "SELECT dictGet('model_training_dict', 'training_run', 'model:churn-a@1.0'), "
        "dictGet('deployment_models', 'model_node', 'deployment:prod/churn-a', "
        "toDateTime64('2026-04-01 05:00:00', 3, 'UTC'))",
        [[f"run:{training}", model]],
    )
    before = rewrites(worker)
    predict(
        settings,
        ("pa-1", {"model": "churn-a", "model_version": "1.0"}, 3),
        ("pa-2", {"model": "churn-a", "model_version": "1.0", "deployment": "prod/churn-a"}, 4),
        ("pa-3", {"deployment": "prod/churn-a"}, 5),  # the deployment names the model
    )
    datasets = ["dataset:a/accounts@v3", "dataset:a/accounts@v3-holdout"]
    roles = ["train", "validation"]
    rows = wait_rows(worker, ATTRIBUTION, 3, {"prefix": "pa-%"})
    assert rows == [
        ["pa-1", model, "", model, f"run:{training}", datasets, roles, 1],
        ["pa-2", model, deployment, model, f"run:{training}", datasets, roles, 1],
        ["pa-3", "", deployment, model, f"run:{training}", datasets, roles, 1],
    ]
    # Attributed by the inserts themselves: nothing was rewritten.
    assert rewrites(worker) == before


def test_predictions_stored_before_their_training_are_attributed_later(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    model, deployment, training = "model:churn-b@2.0", "deployment:prod/churn-b", run("b")
    failed = "model:churn-b@2.1"
    predict(
        settings,
        ("pb-1", {"model": "churn-b", "model_version": "2.0"}, 3),
        ("pb-2", {"model": "churn-b", "model_version": "2.0"}, 4),
        ("pb-3", {"deployment": "prod/churn-b"}, 5),
        ("pb-4", {"model": "churn-b", "model_version": "2.1"}, 6),
    )
    unresolved = wait_rows(worker, ATTRIBUTION, 4, {"prefix": "pb-%"})
    assert unresolved == [
        ["pb-1", model, "", model, "", [], [], 0],
        ["pb-2", model, "", model, "", [], [], 0],
        ["pb-3", "", deployment, "", "", [], [], 0],
        ["pb-4", failed, "", failed, "", [], [], 0],
    ]

    before = rewrites(worker)
    # The lineage arrives late: a completed run for 2.0, a failed one for 2.1 (which made no
    # model version, so attributes nothing), and the deployment serving 2.0 since hour 1.
    emit(
        settings,
        (
            TrainingRun(
                "churn-b",
                "2.0",
                [
                    DatasetRef("b/tickets", "v8", "train"),
                    DatasetRef("b/tickets", "v8-test", "test"),
                ],
                run_id=training,
            ),
            at(7),
        ),
        (
            TrainingRun(
                "churn-b",
                "2.1",
                [DatasetRef("b/tickets", "v9", "train")],
                run_id=run("b-failed"),
                status="FAILED",
                error_message="out of memory",
            ),
            at(8),
        ),
        (Deployment("prod/churn-b", "prod", "churn-b", "2.0", at(1)), at(9)),
    )
    datasets = ["dataset:b/tickets@v8", "dataset:b/tickets@v8-test"]
    roles = ["train", "test"]
    wait_equal(
        worker,
        ATTRIBUTION.replace("{prefix:String}", "'pb-%'"),
        [
            ["pb-1", model, "", model, f"run:{training}", datasets, roles, 1],
            ["pb-2", model, "", model, f"run:{training}", datasets, roles, 1],
            ["pb-3", "", deployment, model, f"run:{training}", datasets, roles, 1],
            ["pb-4", failed, "", failed, "", [], [], 0],
        ],
    )
    # Rewritten in the store, not just read differently: the stored columns changed.
    stored = worker.query(
        "SELECT inference_id, served_model, training_run, resolved FROM inferences "
        "WHERE inference_id LIKE 'pb-%' ORDER BY inference_id"
    )
    assert stored.rows == [
        ["pb-1", model, f"run:{training}", 1],
        ["pb-2", model, f"run:{training}", 1],
        ["pb-3", model, f"run:{training}", 1],
        ["pb-4", failed, "", 0],
    ]
    assert rewrites(worker) > before


CLOSURE = (
    "SELECT ancestor_kind, ancestor, min(depth), min(since) FROM model_upstream "
    "WHERE model_node = 'model:churn-c@1.0' GROUP BY ancestor_kind, ancestor "
    "ORDER BY ancestor_kind, ancestor"
)


def test_model_closure_is_transitive_and_takes_in_late_edges(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    clean, features, train, load = run("c-clean"), run("c-features"), run("c-train"), run("c-load")
    raw, cleaned = DatasetRef("c/raw", "v1"), DatasetRef("c/clean", "v1")
    legacy = DatasetRef("c/legacy", "v7")
    # A chain of three runs down to the model, and, not yet connected to it, a legacy
    # dataset extracted from a source.
    emit(
        settings,
        (SourceExtraction("legacy/crm", "oracle", "jdbc:legacy", 10, legacy), at(0)),
        (TransformationRun("c/clean", inputs=[raw], outputs=[cleaned], run_id=clean), at(1)),
        (
            TransformationRun(
                "c/features",
                inputs=[cleaned],
                outputs=[DatasetRef("c/features", "v1")],
                run_id=features,
            ),
            at(2),
        ),
        (
            TrainingRun(
                "churn-c",
                "1.0",
                [DatasetRef("c/features", "v1", "train"), DatasetRef("c/holdout", "v1", "test")],
                run_id=train,
            ),
            at(3),
        ),
    )
    chain = sorted(
        [
            ["dataset", "dataset:c/clean@v1", 4, iso(3)],
            ["dataset", "dataset:c/features@v1", 2, iso(3)],
            ["dataset", "dataset:c/holdout@v1", 2, iso(3)],
            ["dataset", "dataset:c/raw@v1", 6, iso(3)],
            ["job", "job:c/clean", 6, iso(3)],
            ["job", "job:c/features", 4, iso(3)],
            ["run", f"run:{clean}", 5, iso(3)],
            ["run", f"run:{features}", 3, iso(3)],
            ["run", f"run:{train}", 1, iso(3)],
        ]
    )
    wait_equal(worker, CLOSURE, chain)

    # Late: the run that made c/raw from the legacy dataset. The model now also comes from
    # that run, its job, the legacy dataset and the legacy dataset's own source, since the
    # late edge (hour 5) made the paths true.
    late = emit(
        settings,
        (TransformationRun("c/load", inputs=[legacy], outputs=[raw], run_id=load), at(5)),
    )
    wait_equal(
        worker,
        CLOSURE,
        sorted(
            [
                *chain,
                ["dataset", "dataset:c/legacy@v7", 8, iso(5)],
                ["job", "job:c/load", 8, iso(5)],
                ["run", f"run:{load}", 7, iso(5)],
                ["source", "source:legacy/crm", 9, iso(5)],
            ]
        ),
    )
    # The same lineage again changes nothing, and nothing was ever written twice.
    again = emit(
        settings,
        (TransformationRun("c/load", inputs=[legacy], outputs=[raw], run_id=load), at(5)),
    )
    settle(settings, worker, [*late, *again])
    raw_rows = worker.query(
        "SELECT count(), uniqExact(ancestor) FROM model_upstream "
        "WHERE model_node = 'model:churn-c@1.0'"
    )
    assert raw_rows.rows == [[13, 13]]
    # The reverse question reads the same table by ancestor.
    users = worker.query(
        "SELECT DISTINCT model_node FROM model_upstream WHERE ancestor = 'source:legacy/crm'"
    )
    assert users.rows == [["model:churn-c@1.0"]]
    # One lookup answers what a recursive walk of the edges answers.
    walked = run_cli(settings, "upstream", "model:churn-c@1.0", "--format", "json")
    assert walked.returncode == 0, walked.stderr
    closure = worker.query(CLOSURE).rows
    assert sorted((r["node"], r["depth"]) for r in json.loads(walked.stdout)) == sorted(
        (r[1], r[2]) for r in closure
    )


def impacts(tag_node: str) -> str:
    return (
        "SELECT affected, kind, depth, window_start, window_end, active FROM tag_impacts FINAL "
        f"WHERE tag_node = '{tag_node}' ORDER BY affected"
    )


AFFECTED = (
    "SELECT inference_id, via FROM affected_predictions "
    "WHERE tag_node = {node:String} AND incident_id = {incident:String} ORDER BY inference_id"
)


def test_tag_reaches_models_deployments_and_predictions_in_its_window_but_not_past_masking(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    clean, anonymise, train_d, train_e = run("d-clean"), run("d-anon"), run("d-train"), run("e")
    raw, cleaned, anon = (
        DatasetRef("d/raw", "v1"),
        DatasetRef("d/clean", "v1"),
        DatasetRef("d/anon", "v1"),
    )
    # source -> raw -> clean -> churn-d (deployed); clean -> anonymise (masking) -> anon ->
    # churn-e.
    graph = emit(
        settings,
        (SourceExtraction("d/crm", "salesforce", "sf://accounts", 500, raw), at(1)),
        (TransformationRun("d/clean", inputs=[raw], outputs=[cleaned], run_id=clean), at(1)),
        (
            TransformationRun(
                "d/anonymise", inputs=[cleaned], outputs=[anon], run_id=anonymise, masking=True
            ),
            at(1),
        ),
        (
            TrainingRun("churn-d", "1.0", [DatasetRef("d/clean", "v1", "train")], run_id=train_d),
            at(2),
        ),
        (
            TrainingRun("churn-e", "1.0", [DatasetRef("d/anon", "v1", "train")], run_id=train_e),
            at(2),
        ),
        (Deployment("prod/churn-d", "prod", "churn-d", "1.0", at(2)), at(2)),
    )
    settle(settings, worker, graph)
    d = {"model": "churn-d", "model_version": "1.0"}
    predict(
        settings,
        ("pd-1", d, 9),  # before the window
        ("pd-2", d, 10),  # at its start: in
        ("pd-3", {**d, "deployment": "prod/churn-d"}, 15),
        ("pd-4", d, 20),  # at its end: out
        ("pd-5", {"deployment": "prod/churn-d"}, 12),  # the deployment served churn-d
        ("pe-1", {"model": "churn-e", "model_version": "1.0"}, 15),  # trained on masked data
    )
    wait_rows(
        worker,
        "SELECT inference_id FROM inferences WHERE match(inference_id, '^p[de]-')",
        6,
    )

    source = "source:d/crm"
    emit(
        settings,
        (
            Tag(
                source,
                "pii",
                incident_id="INC-7",
                record_count=120,
                window_start=at(10),
                window_end=at(20),
                reason="emails in clear",
            ),
            at(21),
        ),
    )

    def row(node: str, depth: int, active: int = 1) -> list[Any]:
        return [node, node.split(":")[0], depth, iso(10), iso(20), active]

    reached = [
        row("dataset:d/clean@v1", 3),
        row("dataset:d/raw@v1", 1),
        row("deployment:prod/churn-d", 6),
        row("model:churn-d@1.0", 5),
        row(f"run:{anonymise}", 4),  # the masking run saw the data; its output did not
        row(f"run:{clean}", 2),
        row(f"run:{train_d}", 4),
        row(source, 0),
    ]
    wait_equal(worker, impacts(source), sorted(reached))
    assert worker.query(AFFECTED, {"node": source, "incident": "INC-7"}).rows == [
        ["pd-2", "model:churn-d@1.0"],
        ["pd-3", "model:churn-d@1.0"],
        ["pd-5", "model:churn-d@1.0"],
    ]

    # Lineage arriving after the tag: a run exporting the tagged clean data is reached with
    # its output; a model trained on the masked output still is not.
    export = run("d-export")
    late = emit(
        settings,
        (
            TransformationRun(
                "d/export", inputs=[cleaned], outputs=[DatasetRef("d/export", "v1")], run_id=export
            ),
            at(22),
        ),
        (
            TrainingRun("churn-f", "1.0", [DatasetRef("d/anon", "v1", "train")], run_id=run("f")),
            at(22),
        ),
    )
    settle(settings, worker, late)
    assert worker.query(impacts(source)).rows == sorted(
        [*reached, row("dataset:d/export@v1", 5), row(f"run:{export}", 4)]
    )
    count = worker.query(
        "SELECT count() FROM affected_predictions WHERE incident_id = 'INC-7'"
    ).rows
    assert count == [[3]]


def test_retracted_tag_leaves_its_impacts_inactive(
    settings: WorkerSettings, worker: WorkerProcess
) -> None:
    raw = DatasetRef("r/raw", "v1")
    graph = emit(
        settings,
        (SourceExtraction("r/crm", "salesforce", "sf://r", 5, raw), at(1)),
        (
            TrainingRun("churn-r", "1.0", [DatasetRef("r/raw", "v1", "train")], run_id=run("r")),
            at(2),
        ),
    )
    settle(settings, worker, graph)
    predict(settings, ("pr-1", {"model": "churn-r", "model_version": "1.0"}, 12))
    wait_rows(worker, "SELECT inference_id FROM inferences WHERE inference_id = 'pr-1'", 1)
    source = "source:r/crm"
    tag = Tag(source, "bias", incident_id="INC-9", window_start=at(10), window_end=at(20))
    emit(settings, (tag, at(21)))
    nodes = sorted(["dataset:r/raw@v1", f"run:{run('r')}", "model:churn-r@1.0", source])
    wait_equal(
        worker,
        f"SELECT affected, active FROM tag_impacts FINAL WHERE tag_node = '{source}' "
        "ORDER BY affected",
        [[n, 1] for n in nodes],
    )
    assert worker.query(AFFECTED, {"node": source, "incident": "INC-9"}).rows == [
        ["pr-1", "model:churn-r@1.0"]
    ]

    retracted = Tag(
        source, "bias", incident_id="INC-9", window_start=at(10), window_end=at(20), active=False
    )
    emit(settings, (retracted, at(30)))
    # Kept for audit, no longer in force.
    wait_equal(
        worker,
        f"SELECT affected, active FROM tag_impacts FINAL WHERE tag_node = '{source}' "
        "ORDER BY affected",
        [[n, 0] for n in nodes],
    )
    assert worker.query(AFFECTED, {"node": source, "incident": "INC-9"}).rows == []
