"""Where the local stack keeps its state, whatever folder a command runs in.

The state folder holds the local Kafka, the worker's pid, port and log, and the embedded store.
The command line finds it so (:func:`state_dir_for`):

1. ``LINEAGE_STATE_DIR``, if set;
2. else the nearest ``.lineage`` folder: in the current folder or the closest one above it,
   so a command run anywhere inside a project finds the project's stack;
3. else the per-user state folder, ``$XDG_STATE_HOME/lineage-collector`` (by default
   ``~/.local/state/lineage-collector``).

Only commands that create state (``lineage up``, ``lineage worker``) create the folder. Run in
a checkout (a folder inside a git work tree) with no ``.lineage`` above, they create
``.lineage`` in the current folder, as the project's ``make run`` expects; elsewhere the
per-user folder. Every other command reads what is there and creates nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator, Mapping
from pathlib import Path

from lineage_processors.settings import WorkerSettings

STATE_FOLDER = ".lineage"
USER_FOLDER = "lineage-collector"


def env_name(field: str) -> str:
    """The environment variable of setting ``field``, as the settings declare it."""
    return next(spec.env for spec in WorkerSettings.SPECS if spec.field == field)


def given(environ: Mapping[str, str], field: str) -> bool:
    """True if ``environ`` sets setting ``field`` (an empty variable counts as unset, as in
    :meth:`WorkerSettings.from_env`)."""
    return bool(environ.get(env_name(field), ""))


def user_state_dir(environ: Mapping[str, str]) -> Path:
    """The per-user state folder: ``$XDG_STATE_HOME/lineage-collector``, else
    ``~/.local/state/lineage-collector``."""
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / USER_FOLDER


def nearest_state_dir(cwd: Path) -> Path | None:
    """The ``.lineage`` folder in ``cwd`` or the closest folder above it, if any."""
    for folder in (cwd, *cwd.parents):
        if (folder / STATE_FOLDER).is_dir():
            return folder / STATE_FOLDER
    return None


def in_checkout(cwd: Path) -> bool:
    """True if ``cwd`` lies in a git work tree (``.git`` in it or a folder above)."""
    return any((folder / ".git").exists() for folder in (cwd, *cwd.parents))


def state_dir_for(environ: Mapping[str, str], cwd: Path, *, creating: bool) -> Path | None:
    """The state folder a command run in ``cwd`` uses (see the module's description), or
    ``None`` when ``LINEAGE_STATE_DIR`` names it. ``creating``: the command creates state
    (``lineage up``, ``lineage worker``)."""
    if given(environ, "state_dir"):
        return None
    cwd = cwd.resolve()
    found = nearest_state_dir(cwd)
    if found is not None:
        return found
    if creating and in_checkout(cwd):
        return cwd / STATE_FOLDER
    return user_state_dir(environ).resolve()


def with_state_dir(
    settings: WorkerSettings, environ: Mapping[str, str], cwd: Path, *, creating: bool
) -> WorkerSettings:
    """``settings`` with the state folder a command run in ``cwd`` uses."""
    found = state_dir_for(environ, cwd, creating=creating)
    return settings if found is None else settings.replace(state_dir=found)


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock (created with the folder if need be): two starts of one
    service at once must not both start it."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
