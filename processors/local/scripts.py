"""The shell scripts of a local JVM service's deploy folder, and the tools they need.

Each deploy folder (``deploy/local`` for Kafka, ``deploy/local/registry`` for the schema
registry) holds ``provision.sh``, which fetches the service from Maven Central into a cache
folder once, a start script and a stop script. :class:`Scripts` runs them and turns their
failures into a :class:`~lineage_processors.errors.LocalStackError` quoting what they said.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from lineage_processors.errors import LocalStackError

PROVISION_SCRIPT = "provision.sh"
PROVISION_NOT_DONE = 3
"""``provision.sh --check`` exits with this when the service is not in the cache yet."""
_PROGRESS_PREFIX = "==> "


def deploy_folder() -> Path:
    """The scripts and Maven files of the local services: installed with the package, or the
    repository's ``deploy/local`` when running from a checkout."""
    installed = Path(__file__).resolve().parent / "deploy"
    return (
        installed
        if installed.is_dir()
        else Path(__file__).resolve().parents[2] / "deploy" / "local"
    )


def require(tool: str, hint: str) -> None:
    """Raise :class:`LocalStackError` with ``hint`` unless ``tool`` is on PATH."""
    if shutil.which(tool) is None:
        raise LocalStackError(hint)


class Scripts:
    """The scripts of one deploy folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def missing(self, names: Sequence[str]) -> list[str]:
        """Those of ``names`` the folder lacks."""
        return [name for name in names if not (self.folder / name).is_file()]

    def run(
        self,
        name: str,
        *args: str,
        check: bool = True,
        timeout: float = 600.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run script ``name`` with ``args`` (``env``: its whole environment, default this
        process's); with ``check``, a non-zero exit is an error quoting its stderr."""
        try:
            done = subprocess.run(
                [_bash(), str(self.folder / name), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=env,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LocalStackError(f"{name} could not be run: {exc}") from exc
        if check and done.returncode != 0:
            raise LocalStackError(failure(name, done.stderr))
        return done

    def download(self, cache_dir: Path, progress: Callable[[str], None]) -> Path:
        """Run ``provision.sh`` for real, passing its progress lines on as they come; return
        the provisioned folder it prints."""
        script = str(self.folder / PROVISION_SCRIPT)
        messages: list[str] = []
        try:
            with subprocess.Popen(
                [_bash(), script, str(cache_dir)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ) as proc:
                assert proc.stderr is not None and proc.stdout is not None
                # stdout carries one line (the provisioned folder), so reading stderr to the
                # end first cannot block on a full stdout pipe.
                for line in proc.stderr:
                    if line.startswith(_PROGRESS_PREFIX):
                        progress(line[len(_PROGRESS_PREFIX) :].rstrip())
                    else:
                        messages.append(line)
                out = proc.stdout.read()
                returncode = proc.wait()
        except OSError as exc:
            raise LocalStackError(f"{PROVISION_SCRIPT} could not be run: {exc}") from exc
        if returncode != 0 or not out.strip():
            raise LocalStackError(failure(PROVISION_SCRIPT, "".join(messages)))
        return Path(out.strip().splitlines()[-1])


def failure(name: str, stderr: str) -> str:
    """The message for script ``name`` that failed saying ``stderr``."""
    detail = stderr.strip() or "(it printed nothing)"
    return f"{name} failed:\n{detail}"


def _bash() -> str:
    # Looked up on PATH like any tool, but a PATH without bash still finds the system's.
    return shutil.which("bash") or "/bin/bash"
