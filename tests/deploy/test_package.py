"""The package installs and runs anywhere: the wheel built from the repository, installed with
its dependencies into a fresh virtual environment outside the checkout, runs the local stack
and the demo, and gives a plain script the SDK under its installed name only. The image
installs that same wheel.

The subprocesses cannot reach the checkout by accident: they run the environment's own
Python, from a folder outside the repository, with no PYTHONPATH and no PATH entry in it, and
the test asserts that their ``sys.path`` holds nothing of it.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_collector.catalog import load_catalog
from tests.deploy.wheel import (
    REPO,
    Steps,
    build_inputs,
    build_wheel,
    copied_paths,
    dockerfile_stages,
    isolated_env,
    outside,
    package_roots,
    pyproject,
    shipped_files,
    wheel_names,
)

DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"

# Run by the environment's Python: where the installed names come from, what the old
# (folder) names do, and the SDK used as a service would use it.
SCRIPT = """
import importlib, json, sys
from lineage_collector import DatasetRef, LineageClient
from lineage_collector.catalog import load_catalog
import lineage_collector, lineage_processors

old = {}
for name in ("collector", "processors", "schemas"):
    try:
        importlib.import_module(name)
        old[name] = "imported"
    except ModuleNotFoundError as exc:
        old[name] = type(exc).__name__
client = LineageClient("127.0.0.1:9", subject_key="k" * 64, producer_config={"log_level": 0})
client.close()
print(json.dumps({
    "path": sys.path,
    "executable": sys.executable,
    "files": [lineage_collector.__file__, lineage_processors.__file__],
    "old": old,
    "dataset": DatasetRef("customers", "v12").node_id,
    "schemas": len(load_catalog()),
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    steps = Steps(cwd=work)
    built = build_wheel(work, steps)
    print(f"package check: {steps.report()}")
    return built


@pytest.fixture
def venv_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the fresh environment goes; removed afterwards (it holds about 1 GB)."""
    venv = tmp_path / "venv"
    yield venv
    shutil.rmtree(venv, ignore_errors=True)


def test_the_wheel_holds_the_installed_names_and_every_file_of_their_folders(
    wheel: Path,
) -> None:
    names = set(wheel_names(wheel))
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    # The folder names are not installed: only names no other distribution uses.
    assert top == {name.split(".")[0] for name in package_roots()}
    assert top == {"lineage_collector", "lineage_processors"}
    # Every file of the folders, not only the modules: the local scripts, the schemas and
    # the released writer schemas, the SQL views. Whatever is missing here works in a
    # checkout and fails for a user.
    missing = [str(p.relative_to(REPO)) for p, shipped in shipped_files() if shipped not in names]
    assert missing == []
    assert "lineage_processors/local/deploy/kafka-start.sh" in names
    schemas = sorted((REPO / "schemas").rglob("*.avsc"))
    assert schemas and all(
        f"lineage_collector/schemas/{p.relative_to(REPO / 'schemas')}" in names for p in schemas
    )
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as archive:
        scripts = archive.read(entry_points).decode()
    assert "lineage = lineage_processors.cli.main:main" in scripts


def test_the_wheel_installs_in_a_fresh_environment_and_runs_the_stack_and_the_sdk(
    wheel: Path, tmp_path: Path, venv_dir: Path
) -> None:
    home = tmp_path / "user"  # a folder of a user's, outside the checkout
    home.mkdir()
    assert outside(home) and outside(venv_dir) and outside(wheel)
    python, lineage = venv_dir / "bin" / "python", venv_dir / "bin" / "lineage"
    steps = Steps(cwd=home, env=isolated_env(venv_dir, tmp_path / "state"))
    steps.run("venv created", sys.executable, "-m", "venv", venv_dir)
    # --no-compile: byte-compiling every dependency (pandas, pyarrow...) doubles the time
    # and proves nothing about the wheel; what runs compiles as it is imported.
    steps.run(
        "wheel installed", python, "-m", "pip", "install", "-q", "--no-compile", wheel, timeout=900
    )

    found = json.loads(steps.run("SDK imported", python, "-c", SCRIPT))
    assert all(outside(Path(p or home)) for p in found["path"]), found["path"]
    assert Path(found["executable"]).parent == venv_dir / "bin"
    site = venv_dir / "lib"
    assert all(Path(f).is_relative_to(site) for f in found["files"]), found["files"]
    assert found["old"] == dict.fromkeys(
        ("collector", "processors", "schemas"), "ModuleNotFoundError"
    )
    assert found["dataset"] == "dataset:customers@v12"
    assert found["schemas"] == len(load_catalog())  # the same event schemas as the checkout

    usage = steps.run("lineage --help", lineage, "--help")
    assert "lineage up" in usage and "lineage demo" in usage
    if "--version" in usage:
        version = steps.run("lineage --version", lineage, "--version")
        assert pyproject()["project"]["version"] in version

    try:
        up = steps.run("lineage up", lineage, "up")
        assert "kafka: running at 127.0.0.1:" in up and "worker: running" in up
        demo = steps.run("lineage demo", lineage, "demo")
        # The story told to its end (tests/e2e/test_demo.py checks every figure).
        assert demo.rstrip().endswith("steps again on the corrected labels."), demo
    finally:
        down = steps.run("lineage down", lineage, "down", timeout=120)
    assert "worker: stopped" in down and "kafka: stopped" in down
    print(f"package check: {steps.report()}")


def test_the_image_installs_the_wheel_built_from_the_repository() -> None:
    """Docker may be absent where the tests run: the Dockerfile is read instead. Its build
    stage copies what building the wheel reads, to the same places, and builds the wheel;
    the image pip-installs that wheel, never the source tree, and runs ``lineage``."""
    build, image = dockerfile_stages(DOCKERFILE.read_text())
    assert build.name, "the build stage is named for the image to copy from"
    copied = copied_paths(build)
    assert {name: copied.get(name) for name in build_inputs()} == {
        name: name for name in build_inputs()
    }
    [wheel_step] = [r for r in build.all("RUN") if "pip wheel" in r]
    assert "--no-deps" in wheel_step
    wheels = re.search(r"(?:--wheel-dir|-w)[ =](\S+)", wheel_step)
    assert wheels and wheel_step.rstrip().endswith(" ."), wheel_step

    # The image takes the wheel from the build stage, and nothing from the source tree.
    assert copied_paths(image) == {}
    [take] = [c for c in image.all("COPY") if c.startswith(f"--from={build.name} ")]
    source, dest = take.split()[1:]
    assert source.rstrip("/") == wheels.group(1).rstrip("/")
    [install] = [r for r in image.all("RUN") if "pip install" in r]
    assert f"{dest.rstrip('/')}/*.whl" in install
    assert not re.search(r"(^|\s)(-e|--editable|\.)(\s|$)", install), install
    assert image.all("ENTRYPOINT") == ['["lineage"]']
    assert "lineage" in pyproject()["project"]["scripts"]
