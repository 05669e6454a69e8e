"""The deploy folder's scripts: run, their failures quoted, missing ones and tools named."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage_processors.errors import LocalStackError
from lineage_processors.local.scripts import (
    PROVISION_SCRIPT,
    Scripts,
    deploy_folder,
    require,
)


def script(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"set -eu\n{body}\n")


def test_the_deploy_folder_holds_the_local_scripts() -> None:
    assert (deploy_folder() / PROVISION_SCRIPT).is_file()
    assert (deploy_folder() / "kafka-start.sh").is_file()


def test_missing_scripts_are_named(tmp_path: Path) -> None:
    script(tmp_path, "start.sh", "true")
    assert Scripts(tmp_path).missing(["start.sh", "stop.sh"]) == ["stop.sh"]


def test_a_script_runs_with_its_arguments_and_a_failure_quotes_it(tmp_path: Path) -> None:
    script(tmp_path, "echo.sh", 'echo "got $1 $2"')
    script(tmp_path, "fail.sh", 'echo "the port is taken" >&2; exit 4')
    script(tmp_path, "quiet.sh", "exit 1")
    scripts = Scripts(tmp_path)
    assert scripts.run("echo.sh", "a", "b").stdout == "got a b\n"
    assert scripts.run("fail.sh", check=False).returncode == 4
    with pytest.raises(LocalStackError, match=r"fail\.sh failed:\nthe port is taken"):
        scripts.run("fail.sh")
    with pytest.raises(LocalStackError, match=r"quiet.sh failed:\n\(it printed nothing\)"):
        scripts.run("quiet.sh")


def test_a_download_passes_its_progress_on_and_returns_the_folder(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy"
    script(
        deploy,
        PROVISION_SCRIPT,
        'echo "==> fetching jars" >&2; echo "noise" >&2; mkdir -p "$1/svc"; echo "$1/svc"',
    )
    said: list[str] = []
    assert Scripts(deploy).download(tmp_path / "cache", said.append) == tmp_path / "cache" / "svc"
    assert said == ["fetching jars"]
    script(deploy, PROVISION_SCRIPT, 'echo "==> fetching" >&2; echo "no network" >&2; exit 1')
    with pytest.raises(LocalStackError, match=r"provision\.sh failed:\nno network"):
        Scripts(deploy).download(tmp_path / "cache", said.append)


def test_a_missing_tool_is_named_with_the_hint() -> None:
    require("sh", "unused")
    with pytest.raises(LocalStackError, match="install it"):
        require("no-such-tool-anywhere", "no-such-tool is missing; install it")
