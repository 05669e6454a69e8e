"""How answers are printed: tables, JSON and CSV on stdout, what is not data on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lineage_processors.answers.runner import Table
from lineage_processors.answers.sections import Answer
from lineage_processors.cli.output import render, show, show_answer, write_out

TABLE = Table(["depth", "node", "attrs"], [[1, "run:a", {"k": "v"}], [2, "dataset:x@v1", None]])


def test_table_is_aligned() -> None:
    assert render(TABLE, "table").splitlines() == [
        "depth  node          attrs",
        "-----  ------------  ----------",
        '1      run:a         {"k": "v"}',
        "2      dataset:x@v1",
    ]


def test_json_and_csv() -> None:
    assert json.loads(render(TABLE, "json"))[1] == {
        "depth": 2,
        "node": "dataset:x@v1",
        "attrs": None,
    }
    assert render(TABLE, "csv").splitlines() == [
        "depth,node,attrs",
        '1,run:a,"{""k"": ""v""}"',
        "2,dataset:x@v1,",
    ]


def test_an_empty_table_is_said_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert show(Table(["a"], []), "json", "nothing recorded") == 0
    assert capsys.readouterr() == ("", "nothing recorded\n")
    assert show(TABLE, "csv", "unused") == 0
    assert capsys.readouterr().out.splitlines()[0] == "depth,node,attrs"


def test_an_answers_notes_are_data_only_in_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    answer = Answer([("runs", Table(["run"], [["run:a"]]))], ["1 run was not completed"])
    show_answer(answer, "table")
    out, err = capsys.readouterr()
    assert out == "runs:\nrun\n-----\nrun:a\n\n1 run was not completed\n" and err == ""
    show_answer(answer, "json")
    out, err = capsys.readouterr()
    assert json.loads(out) == {"runs": [{"run": "run:a"}], "notes": []}
    assert err == "1 run was not completed\n"
    show_answer(Answer([], ["nothing is known about it"]), "table")
    assert capsys.readouterr() == ("", "nothing is known about it\n")


def test_text_goes_to_a_file_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_out("digraph {}\n", None)
    assert capsys.readouterr() == ("digraph {}\n", "")
    target = tmp_path / "g.dot"
    write_out("digraph {}\n", str(target))
    assert target.read_text() == "digraph {}\n"
    assert capsys.readouterr() == ("", f"written to {target}\n")
