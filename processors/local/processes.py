"""Processes of the local stack: recognised by their command line, started detached, stopped,
and the end of their logs for the messages that say why one would not start.

A pid file is never trusted alone: after a crash or a reboot the pid may belong to another
process by now, so each service also checks the command line (:func:`command_line`) before it
counts a pid as its own.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from lineage_processors.errors import LocalStackError

T = TypeVar("T")

LOG_TAIL_LINES = 15
_LOG_TAIL_BYTES = 64 * 1024
# Java stack frames push the message that names the cause out of a short tail.
_STACK_FRAME = re.compile(r"\s+(at |\.\.\. \d+ more)")


def command_line(pid: int) -> list[str] | None:
    """The arguments process ``pid`` runs with, or ``None`` if there are none to read: it
    does not run, or has exited and waits to be collected (a zombie's command line is empty),
    or is in the middle of starting a program."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode(errors="replace").split("\0") if raw else None


def alive(pid: int) -> bool:
    """True if process ``pid`` runs (a zombie, exited but not yet collected, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may hold anything.
    return stat.rpartition(")")[2].split()[0] != "Z"


def start_detached(
    module: Sequence[str],
    *,
    env: Mapping[str, str],
    log_file: Path,
    pid_file: Path,
    what: str,
    ready: Callable[[], T | None],
    on_timeout: Callable[[], object],
    timeout: float,
    pause: float = 0.1,
) -> T:
    """Run ``python -m MODULE ARGS...`` in a session of its own, logging to ``log_file``,
    its pid in ``pid_file``; return what ``ready`` returns once it is not None. A process
    that exits first, or does not get ready within ``timeout`` seconds (``on_timeout`` then
    stops it), is a :class:`LocalStackError` naming ``what`` and ending with its log's tail."""
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", *module],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the command that started it
        )
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalStackError(
                f"{what} exited with code {proc.returncode} while starting. "
                f"The end of its log, {log_file}:\n{log_tail(log_file)}"
            )
        if (answer := ready()) is not None:
            return answer
        time.sleep(pause)
    on_timeout()
    raise LocalStackError(
        f"{what} did not answer within {timeout:.0f}s. "
        f"The end of its log, {log_file}:\n{log_tail(log_file)}"
    )


def stop(pid: int, running: Callable[[], bool], ask: Callable[[], object], timeout: float) -> None:
    """Stop process ``pid``: ``ask`` it to stop, give it ``timeout`` seconds while it is
    ``running()``, then SIGKILL it and wait (briefly) until it is gone."""
    with contextlib.suppress(ProcessLookupError):
        ask()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running():
        time.sleep(0.1)
    if not running():
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, indented, for an error message about a local
    service; blank lines and Java stack frames are left out."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - _LOG_TAIL_BYTES))
            text = log.read().decode(errors="replace")
    except OSError:
        return "    (no log was written)"
    kept = [line for line in text.splitlines() if line.strip() and not _STACK_FRAME.match(line)]
    return "\n".join(f"    {line}" for line in kept[-lines:]) or "    (the log is empty)"
