"""Recipe against the lineage of conftest.py, with exact expected answers."""

from __future__ import annotations

from lineage_processors.answers.recipe import recipe
from tests.processors.answers.conftest import R, Stored


def test_recipe_reruns_what_reads_the_replaced_dataset(stored: Stored) -> None:
    table = recipe(stored.runner, "q-model@1.0", {"dataset:q/raw@v1": "dataset:q/raw@v2"})
    assert [r[:5] for r in table.rows] == [
        [1, "reuse", R["load"], "job:q/load", "OTHER"],
        [2, "run again", R["clean"], "job:q/clean", "CLEAN"],
        [3, "run again", R["t1"], "training", "TRAIN"],
    ]
    assert table.rows[1][7] == "dataset:q/raw@v2 (replaces dataset:q/raw@v1)"
    assert table.rows[1][8] == "dataset:q/clean@v1 (rebuilt)"
    assert table.rows[2][6] == "hyperparameter.lr=0.1"
