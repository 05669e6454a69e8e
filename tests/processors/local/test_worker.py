"""What `lineage up` hands the worker it starts: its settings, less those it never reads."""

from __future__ import annotations

from lineage_processors.local.worker import worker_env
from lineage_processors.settings import WorkerSettings


def test_the_worker_is_not_given_the_subject_key() -> None:
    key = "subject-key-" + "k" * 30
    env = {
        "PATH": "/usr/bin",
        **WorkerSettings(kafka_bootstrap="127.0.0.1:9092", subject_key=key).to_env(),
    }
    assert env["LINEAGE_SUBJECT_KEY"] == key
    given = worker_env(env)
    assert "LINEAGE_SUBJECT_KEY" not in given and key not in given.values()
    assert given == {k: v for k, v in env.items() if k != "LINEAGE_SUBJECT_KEY"}
