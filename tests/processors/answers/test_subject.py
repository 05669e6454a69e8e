"""Subject against the lineage of conftest.py, with exact expected answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from lineage_collector import DatasetRef
from lineage_collector.events import SubjectLinks, TrainingRun, TransformationRun
from lineage_collector.subjects import Pseudonymizer
from lineage_processors.answers.runner import StoreRunner
from lineage_processors.answers.subject import by_pseudonym, subject
from lineage_processors.store import migrate, open_store
from tests.processors.answers.conftest import ANON, KEY, MODEL1, MODEL2, Stored, iso
from tests.processors.answers.direct import DirectWriter


def test_subject_lists_holdings_models_and_predictions(stored: Stored) -> None:
    answer = subject(stored.runner, Pseudonymizer(KEY), "alice")
    assert [r[:2] for r in answer.section("holdings").rows] == [["dataset:q/raw@v1", "dataset"]]
    # Made from the records: both cleanings as they were, the anonymised copy masked.
    derived = [
        ["dataset:q/clean@v1", 2, 0],
        ["dataset:q/clean@v2", 2, 0],
        ["dataset:q/anon@v1", 4, 1],
    ]
    assert answer.section("derived datasets").rows == derived
    view = stored.runner.run(
        "SELECT dataset, depth, masked FROM subject_derived(subject = {s:String}) "
        "ORDER BY depth, dataset",
        {"s": Pseudonymizer(KEY).pseudonym("alice")},
    )
    assert view.rows == derived
    assert answer.section("models").rows == [
        # Trained on the anonymised copy only: it saw alice's records masked.
        [ANON, 6, "dataset:q/raw@v1", 1],
        [MODEL1, 4, "dataset:q/raw@v1", 0],
        [MODEL2, 4, "dataset:q/raw@v1", 0],
    ]
    assert answer.section("predictions").rows == [
        [MODEL1, "deployment:prod/q", "yes", 1, iso(8), iso(8)],
        [MODEL2, "", "no", 1, iso(9), iso(9)],
    ]
    nobody = subject(stored.runner, Pseudonymizer(KEY), "carol")
    assert nobody.sections == []
    assert "no prediction about this person is stored" in nobody.notes
    assert "no dataset was made from their records" in nobody.notes


def test_each_model_says_whether_it_saw_the_person_only_masked(tmp_path: Path) -> None:
    """raw --anonymise--> anon; m-anon trained on anon, m-clear on raw, m-both on both; a
    failed attempt at m-failed on raw built nothing."""
    store = open_store(f"chdb://{tmp_path / 'chdb'}", role="test")
    migrate(store)
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    raw, anon = DatasetRef("p/raw", "v1", "train"), DatasetRef("p/anon", "v1", "train")
    DirectWriter(store).write(
        [
            (SubjectLinks("dataset:p/raw@v1", "k1", ["pseudo-alice"]), t0),
            (TransformationRun("anonymise", inputs=[raw], outputs=[anon], masking=True), t0),
            (TrainingRun("m-anon", "1", [anon]), t0 + timedelta(hours=1)),
            (TrainingRun("m-clear", "1", [raw]), t0 + timedelta(hours=1)),
            (TrainingRun("m-both", "1", [raw, anon]), t0 + timedelta(hours=1)),
            (TrainingRun("m-failed", "1", [raw], status="FAILED"), t0 + timedelta(hours=1)),
        ]
    )
    runner = StoreRunner(store)
    try:
        models = by_pseudonym(runner, "pseudo-alice").section("models").rows
        assert [[r[0], r[3]] for r in models] == [
            ["model:m-anon@1", 1],
            ["model:m-both@1", 0],
            ["model:m-clear@1", 0],
        ]
    finally:
        runner.close()
        store.close()
