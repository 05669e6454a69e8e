"""Walk against the lineage of conftest.py, with exact expected answers."""

from __future__ import annotations

import pytest

from lineage_processors.answers import walk as walk_module
from lineage_processors.answers.attribution import lineage_rows
from lineage_processors.answers.inputs import parse_time
from lineage_processors.answers.walk import downstream, upstream
from tests.processors.answers.conftest import ANON, MODEL1, MODEL2, R, Stored, iso

UPSTREAM_1 = [
    [1, R["t1"], "run", "output", "", MODEL1, iso(3)],
    [2, "dataset:q/clean@v1", "dataset", "input", "train", R["t1"], iso(3)],
    [2, "dataset:q/holdout@v1", "dataset", "input", "validation", R["t1"], iso(3)],
    [3, R["clean"], "run", "output", "", "dataset:q/clean@v1", iso(3)],
    [4, "dataset:q/raw@v1", "dataset", "input", "", R["clean"], iso(3)],
    [4, "job:q/clean", "job", "job", "", R["clean"], iso(3)],
    [5, R["load"], "run", "output", "", "dataset:q/raw@v1", iso(5)],
    [5, "source:q/crm", "source", "extracted", "", "dataset:q/raw@v1", iso(3)],
    [6, "dataset:q/legacy@v7", "dataset", "input", "", R["load"], iso(5)],
    [6, "job:q/load", "job", "job", "", R["load"], iso(5)],
]


def ordered(rows: list[list[object]]) -> list[list[object]]:
    return sorted(rows, key=lambda r: (r[0], r[1]))


def test_upstream_takes_in_the_late_edge_and_the_view_agrees(stored: Stored) -> None:
    table = upstream(stored.runner, MODEL1)
    assert table.rows == ordered(UPSTREAM_1)
    view = stored.runner.run(
        "SELECT depth, node, kind, relation, role, via, since FROM upstream_of(node = "
        "{n:String}, max_depth = 20, as_of = '2299-01-01', relations = []) ORDER BY depth, node",
        {"n": MODEL1},
    )
    assert view.rows == table.rows


def test_upstream_as_of_before_and_after_the_late_edge(stored: Stored) -> None:
    before = upstream(stored.runner, MODEL1, as_of=parse_time("--as-of", iso(4)))
    assert before.rows == ordered([r for r in UPSTREAM_1 if r[6] == iso(3)])
    after = upstream(stored.runner, MODEL1, as_of=parse_time("--as-of", iso(5)))
    assert after.rows == ordered(UPSTREAM_1)
    # Before the model was trained, nothing led to it.
    assert upstream(stored.runner, MODEL1, as_of=parse_time("--as-of", iso(2))).rows == []


def test_upstream_follows_only_the_relations_asked_and_stops_at_depth(stored: Stored) -> None:
    only = upstream(stored.runner, MODEL1, relations=["input", "output"])
    assert only.rows == ordered([r for r in UPSTREAM_1 if r[3] in ("input", "output")])
    assert upstream(stored.runner, MODEL1, depth=2).rows == ordered(UPSTREAM_1[:3])


def test_downstream_of_the_source_with_roles_and_the_view_agrees(stored: Stored) -> None:
    table = downstream(stored.runner, "source:q/crm")
    assert table.columns == ["depth", "node", "kind", "relation", "role", "via", "since"]
    expected = [
        [1, "dataset:q/raw@v1", "dataset", "extracted", "", "source:q/crm"],
        [2, R["clean"], "run", "input", "", "dataset:q/raw@v1"],
        [2, R["clean2"], "run", "input", "", "dataset:q/raw@v1"],
        [3, "dataset:q/clean@v1", "dataset", "output", "", R["clean"]],
        [3, "dataset:q/clean@v2", "dataset", "output", "", R["clean2"]],
        [4, R["anon"], "run", "input", "", "dataset:q/clean@v1"],
        [4, R["t1"], "run", "input", "train", "dataset:q/clean@v1"],
        [4, R["t2"], "run", "input", "train", "dataset:q/clean@v2"],
        [5, "dataset:q/anon@v1", "dataset", "output", "", R["anon"]],
        [5, MODEL1, "model", "output", "", R["t1"]],
        [5, MODEL2, "model", "output", "", R["t2"]],
        [6, R["anon-train"], "run", "input", "train", "dataset:q/anon@v1"],
        [6, "deployment:prod/q", "deployment", "deployed", "", MODEL1],
        [7, ANON, "model", "output", "", R["anon-train"]],
    ]
    assert [r[:6] for r in table.rows] == ordered(expected)
    view = stored.runner.run(
        "SELECT depth, node, kind, relation, role, via, since FROM downstream_of("
        "node = 'source:q/crm', max_depth = 20, as_of = '2299-01-01', relations = []) "
        "ORDER BY depth, node"
    )
    assert view.rows == table.rows
    # The holdout set is read by both trainings, in a different role each.
    holdout = downstream(stored.runner, "dataset:q/holdout@v1", depth=1)
    assert [r[1:5] for r in holdout.rows] == [
        [R["t1"], "run", "input", "validation"],
        [R["t2"], "run", "input", "test"],
    ]


def test_walks_agree_when_the_closures_name_nothing(stored: Stored) -> None:
    # The holdout set leads to models, the legacy set only through the late edge, the
    # deployment to nothing: each walk is exact whatever the closures hold.
    for node in ("dataset:q/holdout@v1", "dataset:q/legacy@v7", "deployment:prod/q", R["anon"]):
        for ask, view in ((upstream, "upstream_of"), (downstream, "downstream_of")):
            expected = stored.runner.run(
                "SELECT depth, node, kind, relation, role, via, since FROM "
                f"{view}(node = {{n:String}}, max_depth = 20, as_of = '2299-01-01', "
                "relations = []) ORDER BY depth, node",
                {"n": node},
            )
            assert ask(stored.runner, node).rows == expected.rows, (node, view)


def test_walks_agree_when_the_names_fill_many_queries(
    stored: Stored, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Names past the SQL one query may carry: the prefetch asks by subquery, the levels
    # in several queries.
    assert [len(c) for c in walk_module.chunks(["node:a", "node:b", "node:c"], 20)] == [2, 1]
    expected = upstream(stored.runner, MODEL1).rows, downstream(stored.runner, "source:q/crm").rows
    monkeypatch.setattr(walk_module, "NAMES_PER_QUERY", 40)
    assert upstream(stored.runner, MODEL1).rows == expected[0] == ordered(UPSTREAM_1)
    assert downstream(stored.runner, "source:q/crm").rows == expected[1]


def test_model_lineage_lookups_equal_the_view(stored: Stored) -> None:
    for model in (MODEL1, MODEL2, ANON):
        view = stored.runner.run(
            "SELECT depth, node, kind, role, properties, since "
            "FROM model_lineage(model = {m:String}) ORDER BY depth, node",
            {"m": model},
        )
        assert lineage_rows(stored.runner, model) == view.rows
