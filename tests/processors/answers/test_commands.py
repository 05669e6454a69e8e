"""The question commands as people run them (tables, JSON, CSV, pictures, bad input),
against the lineage of conftest.py, with exact expected answers."""

from __future__ import annotations

import json

from lineage_processors.cli.graph import picture
from tests.conftest import run_cli
from tests.processors.answers.conftest import MODEL1, MODEL2, R, Stored, iso


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
