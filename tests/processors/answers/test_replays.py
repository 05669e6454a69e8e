"""A prediction stored twice (a replay after a crash, before ClickHouse merges the copies)
counts once, in the commands and in the views, on a real chDB store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_processors.answers.attribution import attribution
from lineage_processors.answers.impact import impact
from lineage_processors.answers.runner import StoreRunner
from lineage_processors.answers.subject import by_pseudonym
from lineage_processors.store import migrate, open_store

PERSON = "a1" * 32  # a pseudonym, as the SDK makes them
EDGES = [
    ("dataset:r/in@v1", "run:r-train", "input", "train"),
    ("run:r-train", "model:r-m@1.0", "output", ""),
    ("model:r-m@1.0", "deployment:r/d", "deployed", ""),
]


@pytest.fixture()
def runner(tmp_path: Path) -> Iterator[StoreRunner]:
    store = open_store(f"chdb://{tmp_path / 'chdb'}", role="test")
    try:
        migrate(store)
        # Merges would collapse the copies at any moment: hold them, as a busy store may.
        store.command("SYSTEM STOP MERGES inferences")
        for node in sorted({n for e in EDGES for n in e[:2]}):
            store.command(
                "INSERT INTO nodes (node_id, kind, name, version, namespace, event_time, "
                "event_id) VALUES ({n:String}, splitByChar(':', {n:String})[1], '', '', 'r', "
                "'2026-04-01', '')",
                {"n": node},
            )
        for src, dst, relation, role in EDGES:
            store.command(
                "INSERT INTO edges (src, dst, relation, role, event_time, run_id, event_id) "
                "VALUES ({s:String}, {d:String}, {r:String}, {o:String}, '2026-04-01', '', '')",
                {"s": src, "d": dst, "r": relation, "o": role},
            )
        store.command(
            "INSERT INTO subject_links (subject, key_id, node_id, event_time, event_id) "
            "VALUES ({p:String}, 'k', 'dataset:r/in@v1', '2026-04-01', 'l1')",
            {"p": PERSON},
        )
        # r-p1 twice, from two deliveries of its event; r-p2 once.
        for pid, event in (("r-p1", "e1"), ("r-p1", "e1-replayed"), ("r-p2", "e2")):
            store.command(
                "INSERT INTO inferences (inference_id, model_node, deployment, event_time, "
                "subject, inputs, input_datasets, output, event_id) VALUES ({i:String}, "
                "'model:r-m@1.0', 'deployment:r/d', '2026-04-02 10:00:00', {p:String}, [], [], "
                "'yes', {e:String})",
                {"i": pid, "p": PERSON, "e": event},
            )
        yield StoreRunner(store)
    finally:
        store.close()


def test_a_replayed_prediction_counts_once(runner: StoreRunner) -> None:
    stored = runner.run("SELECT count() FROM inferences WHERE inference_id = 'r-p1'")
    assert stored.rows == [[2]]  # both copies are there
    answer = impact(runner, "dataset:r/in@v1")
    assert answer.section("predictions").rows[0][:2] == [2, 1]
    view = runner.run(
        "SELECT model_version, predictions, subjects FROM impact_of("
        "node = 'dataset:r/in@v1', since = '1970-01-01', until = '2299-01-01')"
    )
    assert view.rows == [["model:r-m@1.0", 2, 1]]
    person = by_pseudonym(runner, PERSON)
    assert [r[:4] for r in person.section("predictions").rows] == [
        ["model:r-m@1.0", "deployment:r/d", "yes", 2]
    ]
    assert "no dataset was made from their records" in person.notes


def test_a_prediction_written_again_answers_with_its_newest_copy(runner: StoreRunner) -> None:
    # r-p3 stored before its model's lineage (unattributed), then a copy sent again once
    # the lineage was in; ClickHouse merges the two.
    store = runner.store
    # Other people's predictions, enough granules that lookups by id and by person read the
    # projections rather than scan the table.
    store.command(
        "INSERT INTO inferences (inference_id, model_node, deployment, event_time, subject, "
        "inputs, input_datasets, output, event_id) SELECT concat('other-', toString(number)), "
        "'model:r-m@1.0', 'deployment:r/d', toDateTime64('2026-04-03 00:00:00', 3, 'UTC') "
        "+ toIntervalMillisecond(number), hex(number), [], [], 'yes', '' FROM numbers(50000)"
    )
    for served, run, written in (
        ("", "", "2026-04-03 10:00:01"),
        ("model:r-m@1.0", "run:r-train", "2026-04-05 08:00:00"),
    ):
        store.command(
            "INSERT INTO inferences (inference_id, model_node, deployment, event_time, subject, "
            "inputs, input_datasets, output, event_id, served_model, training_run, written_at) "
            "VALUES ('r-p3', '', 'deployment:r/d', '2026-04-03 10:00:00', {p:String}, [], [], "
            "'no', 'e3', {s:String}, {r:String}, {w:String})",
            {"p": PERSON, "s": served, "r": run, "w": written},
        )
    store.command("SYSTEM START MERGES inferences")
    store.command("OPTIMIZE TABLE inferences FINAL")
    assert runner.run("SELECT count() FROM inferences FINAL WHERE inference_id = 'r-p3'").rows == [
        [1]
    ]
    # The lookup by id reads the by_id projection, which kept both copies through the merge:
    # the answers below must choose between them.
    assert runner.run("SELECT count() FROM inferences WHERE inference_id = 'r-p3'").rows == [[2]]

    steps = attribution(runner, "r-p3").rows
    assert [r[1:3] for r in steps if r[1] == "model version"] == [
        ["model version", "model:r-m@1.0"]
    ]
    assert not [r for r in steps if "not known yet" in str(r[4])]  # resolved, as the newest
    view = runner.run(
        "SELECT served_model, training_run, resolved FROM attributions "
        "WHERE inference_id = 'r-p3' ORDER BY written_at DESC LIMIT 1"
    )
    assert view.rows == [["model:r-m@1.0", "run:r-train", 1]]
    person = by_pseudonym(runner, PERSON)
    no = [r[:4] for r in person.section("predictions").rows if r[2] == "no"]
    assert no == [["model:r-m@1.0", "deployment:r/d", "no", 1]]
