from __future__ import annotations

from pathlib import Path

import pytest

from lineage_collector.config import SETTINGS, Settings
from lineage_collector.errors import ConfigError


def test_environment_fills_typed_settings() -> None:
    s = Settings.from_env(
        {
            "LINEAGE_STATE_DIR": "/tmp/x",
            "LINEAGE_TOPIC_EVENTS": "team.events",
            "LINEAGE_SPOOL_MAX_BYTES": "4096",
        }
    )
    assert (s.state_dir, s.topic_events, s.spool_max_bytes) == (Path("/tmp/x"), "team.events", 4096)
    assert s.effective_spool_dir == Path("/tmp/x/spool")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LINEAGE_SPOOL_MAX_BYTES": "zero"}, "LINEAGE_SPOOL_MAX_BYTES='zero' is not valid"),
        ({"LINEAGE_SPOOL_MAX_BYTES": "-1"}, "must be a positive integer"),
        ({"LINEAGE_KAFKA_SECURITY_PROTOCOL": "carrier-pigeon"}, "must be one of"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_secrets_stay_out_of_repr_and_errors() -> None:
    url = "http://admin:hunter2@registry:8081"
    settings = Settings.from_env({"LINEAGE_SCHEMA_REGISTRY_URL": url})
    assert "hunter2" not in repr(settings)
    assert "hunter2" in [s.reveal() for s in settings.secret_values()]


def test_missing_kafka_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lineage up"):
        Settings(state_dir=tmp_path).resolve_bootstrap()


def test_child_environment_reproduces_settings(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path, topic_events="x.events", spool_max_bytes=1 << 20)
    assert Settings.from_env(s.to_env()) == s


def test_the_sdk_reads_only_its_own_settings() -> None:
    """The SDK's settings are what a service embedding it needs, and no more: a worker
    setting in the environment is not the SDK's concern."""
    fields = {spec.field for spec in SETTINGS}
    assert {"kafka_bootstrap", "topic_events", "spool_dir", "subject_key"} <= fields
    assert not fields & {"clickhouse_url", "worker_port", "batch_size", "read_token"}
    assert Settings.from_env({"LINEAGE_WORKER_PORT": "not a port"}) == Settings()
