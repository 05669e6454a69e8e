"""What every command module of ``lineage`` shares: the handler's signature, the hook that adds
a command to the parser, the exit codes, and help texts used by several commands.

Every expected failure ends as one line on stderr saying what went wrong and what to do, and
a meaningful exit code (see :func:`lineage_processors.cli.main.main`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from lineage_processors.settings import WorkerSettings

Handler = Callable[[WorkerSettings, argparse.Namespace], int]
"""Runs one command with the resolved settings and its parsed arguments; returns the exit
code."""
Add = Callable[[str, Handler, str], argparse.ArgumentParser]
"""Adds the command NAME, run by HANDLER, described by HELP; returns its parser."""

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_NOT_RUNNING, EXIT_NOT_FOUND = 0, 1, 2, 3, 4

NODE_HELP = "node id, e.g. model:intent-classifier@3.4.2 or dataset:support/tickets@v8"
TIME_NOTE = "ISO 8601, UTC unless a zone is given, e.g. 2026-03-01 or 2026-03-01T12:30:00Z"
