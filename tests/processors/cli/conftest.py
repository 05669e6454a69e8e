"""Helpers of the command line's tests: ``lineage`` run in a folder of the test's choosing,
with no LINEAGE_* setting but those given, as someone would run it outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MAIN = "lineage_processors.cli.main"


def bare_env(home: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any LINEAGE_* variable but ``settings``, and with
    the per-user state folder under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    env["XDG_STATE_HOME"] = str(home / "xdg")
    env.update(settings)
    return env


def lineage_in(
    folder: Path, *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``lineage ARGS`` in ``folder`` with exactly ``env``."""
    return subprocess.run(
        [sys.executable, "-m", MAIN, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def empty_store(state_dir: Path) -> None:
    """Create the embedded store of ``state_dir`` with its schema and nothing in it, as a
    worker does. In a process of its own: chDB serves one data folder per process."""
    code = (
        "import sys\n"
        "from lineage_processors.store import migrate, open_store\n"
        "store = open_store('chdb://' + sys.argv[1])\n"
        "migrate(store)\n"
        "store.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(state_dir / "chdb")], check=True, timeout=300)
