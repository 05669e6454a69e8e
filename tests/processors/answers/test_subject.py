"""Subject against the lineage of conftest.py, with exact expected answers."""

from __future__ import annotations

from lineage_collector.subjects import Pseudonymizer
from lineage_processors.answers.subject import subject
from tests.processors.answers.conftest import ANON, KEY, MODEL1, MODEL2, Stored, iso


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
        [ANON, 6, "dataset:q/raw@v1"],
        [MODEL1, 4, "dataset:q/raw@v1"],
        [MODEL2, 4, "dataset:q/raw@v1"],
    ]
    assert answer.section("predictions").rows == [
        [MODEL1, "deployment:prod/q", "yes", 1, iso(8), iso(8)],
        [MODEL2, "", "no", 1, iso(9), iso(9)],
    ]
    nobody = subject(stored.runner, Pseudonymizer(KEY), "carol")
    assert nobody.sections == []
    assert "no prediction about this person is stored" in nobody.notes
    assert "no dataset was made from their records" in nobody.notes
