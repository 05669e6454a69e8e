"""Where the local stack's state is found, from whatever folder a command runs in."""

from __future__ import annotations

from pathlib import Path

from lineage_processors.local.state import (
    env_name,
    given,
    state_dir_for,
    user_state_dir,
    with_state_dir,
)
from lineage_processors.settings import WorkerSettings


def test_the_environment_names_it_first(tmp_path: Path) -> None:
    env = {"LINEAGE_STATE_DIR": str(tmp_path / "mine")}
    (tmp_path / ".lineage").mkdir()
    assert state_dir_for(env, tmp_path, creating=False) is None
    assert state_dir_for(env, tmp_path, creating=True) is None
    settings = WorkerSettings(state_dir=tmp_path / "mine")
    assert with_state_dir(settings, env, tmp_path, creating=False) is settings


def test_an_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    env = {"LINEAGE_STATE_DIR": "", "XDG_STATE_HOME": str(tmp_path / "xdg")}
    assert not given(env, "state_dir")
    assert state_dir_for(env, tmp_path, creating=False) == tmp_path / "xdg" / "lineage-collector"


def test_the_nearest_state_folder_above_is_found(tmp_path: Path) -> None:
    project = tmp_path / "project"
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    (project / ".lineage").mkdir()
    (tmp_path / ".lineage").mkdir()  # further away: not this one
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    for creating in (False, True):
        assert state_dir_for(env, deep, creating=creating) == project / ".lineage"
        assert state_dir_for(env, project, creating=creating) == project / ".lineage"
    settings = with_state_dir(WorkerSettings(), env, deep, creating=False)
    assert settings.state_dir == project / ".lineage"
    assert settings.effective_clickhouse_url == f"chdb://{project / '.lineage' / 'chdb'}"


def test_with_none_above_reads_go_to_the_user_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    assert state_dir_for(env, elsewhere, creating=False) == tmp_path / "xdg" / "lineage-collector"
    # Outside a checkout, `lineage up` uses the same folder the questions will look in.
    assert state_dir_for(env, elsewhere, creating=True) == tmp_path / "xdg" / "lineage-collector"
    assert not (tmp_path / "xdg").exists(), "finding the folder creates nothing"


def test_up_in_a_checkout_creates_it_in_the_current_folder(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    sub = checkout / "docs"
    sub.mkdir()
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    assert state_dir_for(env, checkout, creating=True) == checkout / ".lineage"
    assert state_dir_for(env, sub, creating=True) == sub / ".lineage"
    # Reading commands never pick a folder that is not there.
    assert state_dir_for(env, checkout, creating=False) == tmp_path / "xdg" / "lineage-collector"


def test_the_user_folder_follows_xdg_or_defaults_under_home() -> None:
    assert user_state_dir({"XDG_STATE_HOME": "/x"}) == Path("/x/lineage-collector")
    assert user_state_dir({}) == Path.home() / ".local" / "state" / "lineage-collector"


def test_variable_names_come_from_the_settings() -> None:
    assert env_name("state_dir") == "LINEAGE_STATE_DIR"
    assert env_name("worker_port") == "LINEAGE_WORKER_PORT"
    assert given({"LINEAGE_WORKER_PORT": "7001"}, "worker_port")
    assert not given({}, "worker_port")
