"""Attribution against the lineage of conftest.py, with exact expected answers."""

from __future__ import annotations

from lineage_processors.answers.attribution import attribution
from tests.processors.answers.conftest import MODEL1, R, Stored, iso


def test_attribution_chain(stored: Stored) -> None:
    table = attribution(stored.runner, "q-p1")
    assert [r[:4] for r in table.rows] == [
        [0, "prediction", "inference:q-p1", ""],
        [0, "deployment", "deployment:prod/q", ""],
        [0, "model version", MODEL1, ""],
        [1, "training run", R["t1"], ""],
        [2, "training data", "dataset:q/clean@v1", "train"],
        [2, "training data", "dataset:q/holdout@v1", "validation"],
        [3, "run", R["clean"], ""],
        [4, "dataset", "dataset:q/raw@v1", ""],
        [4, "job", "job:q/clean", ""],
        *sorted([[5, "run", R["load"], ""], [5, "source", "source:q/crm", ""]], key=lambda r: r[2]),
        [6, "dataset", "dataset:q/legacy@v7", ""],
        [6, "job", "job:q/load", ""],
    ]
    details = {r[2]: r[4] for r in table.rows}
    assert details["inference:q-p1"] == f"at {iso(8)}, output 'yes'"
    assert details[MODEL1] == "metric.f1=0.8"
    assert details[R["t1"]] == "code_version=git:t1, hyperparameter.lr=0.1, status=COMPLETED"
    assert details[R["clean"]] == (
        "code_version=git:c1, job=job:q/clean, kind=CLEAN, masking=false, "
        "param.drop_nulls=yes, status=COMPLETED"
    )
    assert details["source:q/crm"] == "source_system=salesforce, uri=sf://a"
