"""The question commands: only questions, and never a store made up on the spot."""

from __future__ import annotations

import argparse
from pathlib import Path

from lineage_processors.cli import questions
from lineage_processors.cli.command import Handler
from tests.processors.cli.conftest import bare_env, lineage_in

NO_STORE = "lineage: error: no lineage store here; start one with `lineage up`"


def test_it_holds_the_question_commands_only() -> None:
    added: list[str] = []
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        added.append(name)
        return sub.add_parser(name)

    questions.register(add)
    assert added == [
        "upstream",
        "downstream",
        "impact",
        "attribution",
        "diff",
        "subject",
        "report",
        "recipe",
        "sql",
    ]


def test_outside_any_stack_a_question_says_there_is_no_store_and_creates_none(
    tmp_path: Path,
) -> None:
    here = tmp_path / "somewhere"
    here.mkdir()
    env = bare_env(tmp_path, LINEAGE_SUBJECT_KEY="k" * 40)
    for args in (
        ("upstream", "model:intent-classifier@3.4.2"),
        ("downstream", "source:crm/export"),
        ("impact", "incident:INC-1"),
        ("attribution", "pred-1"),
        ("diff", "m@1", "m@2"),
        ("subject", "customer-1"),
        ("report", "m@1"),
        ("recipe", "m@1"),
        ("graph", "model:m@1", "--format", "dot"),
        ("sql", "SELECT 1"),
    ):
        out = lineage_in(here, *args, env=env)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert out.stderr.startswith(NO_STORE), (args, out.stderr)
        assert str(tmp_path / "xdg" / "lineage-collector" / "chdb") in out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""
    assert list(here.iterdir()) == [] and not (tmp_path / "xdg").exists()


def test_a_named_state_folder_without_a_store_is_no_store_either(tmp_path: Path) -> None:
    env = bare_env(tmp_path, LINEAGE_STATE_DIR=str(tmp_path / "state"))
    out = lineage_in(tmp_path, "sql", "SELECT 1", env=env)
    assert out.returncode == 1 and out.stderr.startswith(NO_STORE)
    assert f"there is none in {tmp_path / 'state' / 'chdb'}" in out.stderr
    assert not (tmp_path / "state").exists()


def test_bad_input_is_said_before_the_store_is_looked_for(tmp_path: Path) -> None:
    out = lineage_in(tmp_path, "upstream", "intent-classifier@3.4.2", env=bare_env(tmp_path))
    assert out.returncode == 2
    assert "is not a node id: expected kind:name[@version]" in out.stderr
