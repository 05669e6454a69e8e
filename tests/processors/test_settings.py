from __future__ import annotations

from pathlib import Path

import pytest

from lineage_collector.config import SETTINGS as SDK_SETTINGS
from lineage_collector.errors import ConfigError
from lineage_processors.settings import WorkerSettings, settings_table

REPO = Path(__file__).resolve().parents[2]


def test_environment_fills_typed_settings() -> None:
    s = WorkerSettings.from_env(
        {
            "LINEAGE_STATE_DIR": "/tmp/x",
            "LINEAGE_TOPIC_PARTITIONS": "8",
            "LINEAGE_BATCH_SECONDS": "0.75",
            "LINEAGE_LOG_LEVEL": "debug",
        }
    )
    assert (s.state_dir, s.topic_partitions, s.batch_seconds, s.log_level) == (
        Path("/tmp/x"),
        8,
        0.75,
        "DEBUG",
    )
    assert s.effective_clickhouse_url == "chdb:///tmp/x/chdb"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LINEAGE_TOPIC_PARTITIONS": "zero"}, "LINEAGE_TOPIC_PARTITIONS='zero' is not valid"),
        ({"LINEAGE_TOPIC_PARTITIONS": "-1"}, "must be a positive integer"),
        ({"LINEAGE_WORKER_PORT": "70000"}, "LINEAGE_WORKER_PORT='70000' is not valid"),
        ({"LINEAGE_LOG_LEVEL": "loud"}, "must be one of DEBUG"),
        ({"LINEAGE_SPOOL_MAX_BYTES": "-1"}, "LINEAGE_SPOOL_MAX_BYTES='-1' is not valid"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorkerSettings.from_env(env)


def test_secrets_stay_out_of_repr_and_errors() -> None:
    url = "http://admin:hunter2@ch:8123/lineage"
    settings = WorkerSettings.from_env({"LINEAGE_CLICKHOUSE_URL": url, "LINEAGE_READ_TOKEN": "r"})
    assert "hunter2" not in repr(settings)
    assert repr(settings).startswith("WorkerSettings(")
    assert {"hunter2", "r"} <= {s.reveal() for s in settings.secret_values()}


def test_child_environment_reproduces_settings(tmp_path: Path) -> None:
    s = WorkerSettings(state_dir=tmp_path, topic_events="x.events", worker_port=7000)
    assert WorkerSettings.from_env(s.to_env()) == s


def test_worker_settings_extend_the_sdks_each_declared_once() -> None:
    envs = [spec.env for spec in WorkerSettings.SPECS]
    assert len(envs) == len(set(envs))
    assert WorkerSettings.SPECS[: len(SDK_SETTINGS)] == SDK_SETTINGS


def test_readme_documents_every_setting() -> None:
    readme = (REPO / "README.md").read_text()
    assert settings_table() in readme, "README's settings table is stale: paste `lineage settings`"
    assert all(f"`{spec.env}`" in readme for spec in WorkerSettings.SPECS)
