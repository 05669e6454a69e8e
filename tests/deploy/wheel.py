"""The wheel as a user gets it: built from what the build reads, installed where the
checkout cannot be seen, and the commands of the steps that do it."""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
# Left behind by running Python in the checkout: never part of what is built.
NOT_SOURCE = ("__pycache__", "*.pyc")


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def package_roots() -> dict[str, str]:
    """``ROOTS`` of setup.py: installed import name -> folder in the repository."""
    for node in ast.parse((REPO / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ROOTS" for t in node.targets
        ):
            roots: dict[str, str] = ast.literal_eval(node.value)
            return roots
    raise AssertionError("setup.py declares no ROOTS")


def build_inputs() -> list[str]:
    """What building the wheel reads, relative to the repository: the build files, the readme
    and the folders setup.py installs."""
    files = ["pyproject.toml", "setup.py", pyproject()["project"]["readme"]]
    return files + list(package_roots().values())


def shipped_files() -> Iterator[tuple[Path, str]]:
    """Every file of the installed folders, with the path it must have in the wheel."""
    for name, folder in package_roots().items():
        root = REPO / folder
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path, "/".join((*name.split("."), *path.relative_to(root).parts))


def outside(path: Path) -> bool:
    """True if ``path`` is neither the checkout nor inside it."""
    return not Path(path).resolve().is_relative_to(REPO)


@dataclass
class Steps:
    """Commands run one after another, each timed; a failure shows the command's output."""

    cwd: Path
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    timings: list[tuple[str, float]] = field(default_factory=list)

    def run(self, label: str, *cmd: str | Path, timeout: float = 300) -> str:
        """Run ``cmd``; its stdout if it succeeded, else fail the test with all it printed."""
        argv = [str(c) for c in cmd]
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv,
                cwd=self.cwd,
                env=dict(self.env),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            out, err = (_text(o) for o in (exc.stdout, exc.stderr))
            self._fail(label, argv, f"timed out after {timeout:.0f} s", out, err)
        self.timings.append((label, time.monotonic() - started))
        if done.returncode != 0:
            self._fail(label, argv, f"exit {done.returncode}", done.stdout, done.stderr)
        return done.stdout

    def _fail(self, label: str, argv: list[str], how: str, stdout: str, stderr: str) -> NoReturn:
        pytest.fail(
            f"{label}: `{shlex.join(argv)}` {how} (before it: {self.report()})\n"
            f"--- stdout\n{stdout}\n--- stderr\n{stderr}",
            pytrace=False,
        )

    def report(self) -> str:
        return ", ".join(f"{label} {seconds:.1f} s" for label, seconds in self.timings)


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def build_wheel(work: Path, steps: Steps) -> Path:
    """Build the wheel from a copy of what the build reads, as pip builds a user's.

    A copy, because setuptools builds in place and keeps ``build/`` between builds: a module
    moved away since the last build in the checkout would still be in the wheel.
    """
    source = work / "source"
    for name in build_inputs():
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns(*NOT_SOURCE))
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    wheels = work / "wheels"
    steps.run(
        "wheel built",
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--wheel-dir",
        wheels,
        source,
    )
    [wheel] = wheels.glob("*.whl")
    return wheel


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def isolated_env(venv: Path, state: Path) -> dict[str, str]:
    """The environment of a user who installed the wheel into ``venv``: no Python path, no
    setting of ours but the shared cache of Kafka's jars, no PATH entry in the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "LINEAGE_")) and k != "VIRTUAL_ENV"
    }
    if "LINEAGE_CACHE_DIR" in os.environ:
        env["LINEAGE_CACHE_DIR"] = os.environ["LINEAGE_CACHE_DIR"]
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and outside(Path(p))]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["VIRTUAL_ENV"] = str(venv)
    env["LINEAGE_STATE_DIR"] = str(state)
    env["LINEAGE_WORKER_PORT"] = str(free_port())
    return env


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str


@dataclass
class Stage:
    """One ``FROM`` of a Dockerfile and what follows it."""

    image: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def dockerfile_stages(text: str) -> list[Stage]:
    """The stages of a Dockerfile: continuation lines joined, comments dropped."""
    stages: list[Stage] = []
    logical = text.replace("\\\n", " ")
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            image, _, name = args.partition(" AS ")
            stages.append(Stage(image.strip(), name.strip()))
        else:
            assert stages, f"{keyword} before any FROM"
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


def copied_paths(stage: Stage) -> dict[str, str]:
    """What the stage's ``COPY`` instructions from the build context put where: source path
    -> destination, relative to the stage's working directory (``--from`` copies left out)."""
    out: dict[str, str] = {}
    for instruction in stage.instructions:
        if instruction.keyword != "COPY":
            continue
        words = instruction.args.split()
        if any(w.startswith("--from") for w in words):
            continue
        *sources, dest = [w for w in words if not w.startswith("--")]
        for src in sources:
            if dest.endswith("/") or len(sources) > 1:
                target = f"{dest.rstrip('/')}/{Path(src).name}"
            else:
                target = dest
            out[src.rstrip("/")] = os.path.normpath(target)
    return out
