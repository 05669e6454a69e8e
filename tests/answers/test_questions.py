"""Every question against the lineage of conftest.py, with exact expected answers."""

from __future__ import annotations

import json

import pytest

from lineage_collector.subjects import Pseudonymizer
from lineage_processors.answers import walk as walk_module
from lineage_processors.answers.attribution import attribution, lineage_rows
from lineage_processors.answers.diff import diff
from lineage_processors.answers.impact import impact
from lineage_processors.answers.inputs import parse_time
from lineage_processors.answers.recipe import recipe
from lineage_processors.answers.report import report
from lineage_processors.answers.subject import subject
from lineage_processors.answers.walk import downstream, upstream
from lineage_processors.cli.graph import picture
from tests.answers.conftest import ANON, KEY, MODEL1, MODEL2, R, Stored, iso
from tests.conftest import run_cli

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


def test_impact_of_an_incident_stops_at_masking_and_counts_its_window(stored: Stored) -> None:
    answer = impact(stored.runner, "incident:INC-Q")
    reached = answer.section("reached").rows
    assert sorted(r[1] for r in reached) == sorted(
        [
            "source:q/crm",
            "dataset:q/raw@v1",
            R["clean"],
            R["clean2"],
            "dataset:q/clean@v1",
            "dataset:q/clean@v2",
            R["t1"],
            R["t2"],
            R["anon"],
            MODEL1,
            MODEL2,
            "deployment:prod/q",
        ]
    )
    assert ANON not in {r[1] for r in reached} and "dataset:q/anon@v1" not in {
        r[1] for r in reached
    }
    # q-p1 and q-p2 fall in [8h, 20h); q-p3 is before, q-p5 after, q-p4 behind masking.
    assert answer.section("predictions").rows == [[2, 1, iso(8), iso(9), iso(8), iso(20)]]
    assert answer.section("by model version and output").rows == [
        [MODEL1, "yes", 1, 1, iso(8), iso(8)],
        [MODEL2, "no", 1, 1, iso(9), iso(9)],
    ]


def test_impact_of_a_node_stops_at_masking_and_counts_the_window_asked(stored: Stored) -> None:
    everything = impact(stored.runner, "source:q/crm")
    reached = {r[1]: r[0] for r in everything.section("reached").rows}
    # The anonymising run is reached; what it wrote, and the model trained on that, are not.
    assert reached[R["anon"]] == 4 and reached["deployment:prod/q"] == 6
    assert "dataset:q/anon@v1" not in reached and ANON not in reached
    assert len(reached) == 11
    # q-p4, made by the model trained on anonymised data, is not counted.
    assert everything.section("predictions").rows[0][:2] == [4, 2]
    window = impact(
        stored.runner, "source:q/crm", parse_time("--since", iso(8)), parse_time("--until", iso(10))
    )
    assert window.section("by model version and output").rows == [
        [MODEL1, "yes", 1, 1, iso(8), iso(8)],
        [MODEL2, "no", 1, 1, iso(9), iso(9)],
    ]
    late = impact(stored.runner, "dataset:q/holdout@v1", parse_time("--since", iso(30)))
    assert late.section("predictions").rows[0][0] == 0
    assert "no predictions were made in the window by what it reached" in late.notes


def test_impact_of_the_masking_run_itself_reaches_its_outputs(stored: Stored) -> None:
    answer = impact(stored.runner, R["anon"])
    assert answer.section("reached").rows == [
        [1, "dataset:q/anon@v1", "dataset"],
        [2, R["anon-train"], "run"],
        [3, ANON, "model"],
    ]
    assert answer.section("by model version and output").rows == [
        [ANON, "yes", 1, 1, iso(10), iso(10)]
    ]


def test_impact_view_agrees_with_the_command(stored: Stored) -> None:
    for node in ("source:q/crm", R["anon"], "dataset:q/clean@v2"):
        rows = impact(stored.runner, node).section("by model version and output").rows
        command = [[r[0], r[1], r[2], r[4], r[5]] for r in rows]  # the view splits people
        view = stored.runner.run(  # by deployment too
            "SELECT model_version, output, sum(predictions), "
            "min(first), max(last) FROM impact_of(node = {n:String}, "
            "since = '1970-01-01', until = '2299-01-01') GROUP BY model_version, output "
            "ORDER BY model_version, output",
            {"n": node},
        )
        assert view.rows == command, node


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


def test_report_in_markdown_and_html(stored: Stored) -> None:
    md = report(stored.runner, "q-model@1.0", "md")
    assert md.startswith(f"# Training data of {MODEL1}\n")
    for heading in (
        "Model version",
        "Training run",
        "Dataset versions and splits",
        "Transformations",
        "Sources",
        "Open incidents",
    ):
        assert f"\n## {heading}\n" in md
    assert "| dataset:q/clean@v1 | train |" in md
    assert "| source:q/crm | source_system=salesforce, uri=sf://a |" in md
    assert "| source:q/crm | pii | INC-Q | 40 |" in md
    assert "f1=0.8" in md
    html = report(stored.runner, "q-model@1.0", "html")
    assert "<h2>Open incidents</h2>" in html and "<td>INC-Q</td>" in html


def test_graph_pictures(stored: Stored) -> None:
    dot = picture(stored.runner, MODEL1, "dot", depth=2)
    assert f'"{R["t1"]}" -> "{MODEL1}" [label="output"];' in dot
    assert f'"dataset:q/clean@v1" -> "{R["t1"]}" [label="input"];' in dot
    assert f'"{MODEL1}" -> "deployment:prod/q" [label="deployed"];' in dot
    assert "dataset:q/raw@v1" not in dot  # three steps away
    mermaid = picture(stored.runner, MODEL1, "mermaid", depth=1)
    assert mermaid.startswith("flowchart LR\n") and "-->|deployed|" in mermaid
    svg = picture(stored.runner, MODEL1, "svg", depth=1)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "deployment:prod/q" in svg


def test_commands_print_tables_json_and_csv(stored: Stored) -> None:
    out = run_cli(stored.settings, "upstream", MODEL1, "--depth", "1", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        {
            "depth": 1,
            "node": R["t1"],
            "kind": "run",
            "relation": "output",
            "role": "",
            "via": MODEL1,
            "since": iso(3),
        }
    ]
    csv = run_cli(stored.settings, "impact", "incident:INC-Q", "--format", "csv")
    assert csv.returncode == 0, csv.stderr
    assert (
        "# by model version and output\n"
        "model_version,output,predictions,subjects,first,last\n"
        f"{MODEL1},yes,1,1,{iso(8)},{iso(8)}"
    ) in (csv.stdout)
    subj = run_cli(stored.settings, "subject", "alice", "--format", "json")
    assert subj.returncode == 0, subj.stderr
    assert [p["predictions"] for p in json.loads(subj.stdout)["predictions"]] == [1, 1]
    table = run_cli(stored.settings, "diff", "q-model@1.0", "q-model@2.0")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["aspect", "key", "change", MODEL1, MODEL2]


def test_bad_input_says_what_is_expected(stored: Stored) -> None:
    s = stored.settings
    cases = [
        (("upstream", "q-model@1.0"), 2, "is not a node id: expected kind:name[@version]"),
        (
            ("upstream", "model:q-modle@1.0"),
            4,
            "model:q-modle@1.0 not found; nearest known: model:q-model@1.0",
        ),
        (
            ("downstream", "source:q/crm", "--as-of", "yesterday"),
            2,
            "--as-of 'yesterday' is not a time: expected ISO 8601",
        ),
        (("impact", "source:q/crm", "--since", "3/4/2026"), 2, "--since '3/4/2026' is not a time"),
        (
            ("impact", "incident:INC-X"),
            4,
            "incident:INC-X not found among incidents in force; nearest known: incident:INC-Q",
        ),
        (
            ("diff", "q-model", "q-model@2.0"),
            2,
            "'q-model' is not a model version: expected MODEL@VERSION",
        ),
        (("diff", "q-model@1.0", "q-model@9"), 4, "model:q-model@9 not found; nearest known: "),
        (("attribution", "q p1"), 2, "'q p1' is not a prediction id"),
        (("attribution", "q-p9"), 4, "no prediction with id 'q-p9' is stored"),
        (
            ("recipe", "q-model@1.0", "--replace", "q/raw@v1"),
            2,
            "expected OLD=NEW dataset versions",
        ),
        (("upstream", MODEL1, "--depth", "0"), 2, "--depth must be between 1 and 100, got 0"),
        (("sql", "INSERT INTO nodes (node_id) VALUES ('model:x@1')"), 2, "queries are read-only"),
        (("sql", "DROP TABLE edges"), 2, "queries are read-only"),
    ]
    for args, code, message in cases:
        out = run_cli(s, *args)
        assert (out.returncode, message in out.stderr) == (code, True), (args, out.stderr)
        assert "Traceback" not in out.stderr
    assert stored.worker.query("SELECT count() > 0 FROM edges").rows == [[1]]


def test_empty_answers_are_said_plainly(stored: Stored) -> None:
    none = run_cli(stored.settings, "upstream", "source:q/crm")
    assert (none.returncode, none.stdout) == (0, "")
    assert "source:q/crm has no recorded upstream lineage" in none.stderr
    early = run_cli(stored.settings, "downstream", "source:q/crm", "--as-of", "2026-03-01")
    assert "source:q/crm has no recorded downstream lineage as of 2026-03-01" in early.stderr
    nothing = run_cli(stored.settings, "sql", "SELECT 1 WHERE 0")
    assert (nothing.returncode, "the query returned no rows" in nothing.stderr) == (0, True)


def test_model_lineage_lookups_equal_the_view(stored: Stored) -> None:
    for model in (MODEL1, MODEL2, ANON):
        view = stored.runner.run(
            "SELECT depth, node, kind, role, properties, since "
            "FROM model_lineage(model = {m:String}) ORDER BY depth, node",
            {"m": model},
        )
        assert lineage_rows(stored.runner, model) == view.rows
