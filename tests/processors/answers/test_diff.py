"""Diff against the lineage of conftest.py, with exact expected answers."""

from __future__ import annotations

from lineage_processors.answers.diff import diff
from tests.processors.answers.conftest import MODEL1, MODEL2, Stored


def test_diff_of_two_versions(stored: Stored) -> None:
    table = diff(stored.runner, "q-model@1.0", "model:q-model@2.0")
    assert table.columns == ["aspect", "key", "change", MODEL1, MODEL2]
    assert table.rows == [
        ["dataset", "q/clean", "changed", "v1 (train)", "v2 (train)"],
        ["dataset", "q/holdout", "changed", "v1 (validation)", "v1 (test)"],
        ["transformation", "q/clean code_version", "changed", "git:c1", "git:c2"],
        ["transformation", "q/clean param.drop_nulls", "changed", "yes", "no"],
        ["training", "code_version", "changed", "git:t1", "git:t2"],
        ["training", "hyperparameter.lr", "changed", "0.1", "0.05"],
        ["metric", "f1", "changed", "0.8", "0.85"],
    ]
    assert diff(stored.runner, "q-model@1.0", "q-model@1.0").rows == []
