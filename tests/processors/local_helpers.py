"""Helpers shared by the tests of the local Kafka broker and the local schema registry."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def jvm_pids(matches: Callable[[list[str]], bool]) -> list[int]:
    """Every live process whose command line, split into its arguments, ``matches``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if matches(args):
            found.append(int(entry.name))
    return found


def path_with_only(folder: Path, monkeypatch: pytest.MonkeyPatch, *tools: str) -> None:
    """Set PATH to the new ``folder``, holding links to ``tools`` (from today's PATH) only."""
    folder.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        assert found is not None, f"these tests need {tool} on PATH"
        (folder / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(folder))
