"""ClickHouse credentials and TLS settings reach clickhouse-connect; no password ever shows.

The TLS endpoint is a real one: the secured Kafka broker's port, whose certificate our own
CA signed. Without that CA the client refuses the certificate; with it the handshake
passes and the client fails further on (it is no ClickHouse): both prove the setting was
passed through, and neither message may hold a password.

The user is a real one too: the compose stack's worker user, its file as deployed, on a local
ClickHouse server; a worker logged in as it must do everything a worker does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_collector import DatasetRef, LineageClient
from lineage_collector.security import Secret
from lineage_processors.errors import QueryError, StoreError
from lineage_processors.local.clickhouse import LocalClickHouse
from lineage_processors.settings import WorkerSettings
from lineage_processors.store import ServerAccess, open_configured, open_store
from tests.conftest import REPO, WorkerProcess, run_cli
from tests.security.conftest import SecureKafka

URL_PASSWORD = "url-password-" + "u" * 16
SETTING_PASSWORD = "setting-password-" + "s" * 16


def refusal(url: str, access: ServerAccess) -> str:
    with pytest.raises(StoreError) as caught:
        open_store(url, access=access)
    return str(caught.value)


def test_tls_settings_reach_the_client_and_no_password_shows(
    secure_kafka: SecureKafka,
) -> None:
    """Pass: the system CAs refuse our certificate, LINEAGE_CLICKHOUSE_CA_FILE makes the
    handshake pass, verify=0 skips the check; no message holds either password."""
    url = f"https://admin:{URL_PASSWORD}@{secure_kafka.bootstrap}/lineage"
    untrusted = refusal(url, ServerAccess(Secret(SETTING_PASSWORD)))
    trusted = refusal(url, ServerAccess(Secret(SETTING_PASSWORD), secure_kafka.security.ca_file))
    unverified = refusal(url, ServerAccess(verify=False))
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted or "certificate verify" in untrusted
    for message in (trusted, unverified):
        assert "certificate" not in message.lower(), message
    for message in (untrusted, trusted, unverified):
        assert URL_PASSWORD not in message and SETTING_PASSWORD not in message
        assert "admin:***@" in message
    missing = refusal(url, ServerAccess(ca_file=Path("/nonexistent/ca.pem")))
    assert "LINEAGE_CLICKHOUSE_CA_FILE" in missing


def test_settings_open_the_store_with_their_access(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    """Pass: open_configured uses the password, CA and verify settings (the CA makes the
    handshake pass), and the command line fails in one line without the password."""
    settings = secure_kafka.settings(
        tmp_path / "state",
        clickhouse_url=f"https://admin@{secure_kafka.bootstrap}/lineage",
        clickhouse_password=Secret(SETTING_PASSWORD),
        clickhouse_ca_file=secure_kafka.security.ca_file,
    )
    with pytest.raises(StoreError) as caught:
        open_configured(settings)
    assert "certificate" not in str(caught.value).lower()
    assert SETTING_PASSWORD not in str(caught.value)

    done = run_cli(settings.replace(clickhouse_ca_file=None), "sql", "SELECT 1")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out and SETTING_PASSWORD not in out
    assert "unreachable" in done.stderr.strip().splitlines()[-1]


WORKER_PASSWORD = "worker-password-" + "w" * 16
DEPLOYED_USER = REPO / "deploy" / "compose" / "clickhouse" / "users.d" / "lineage.xml"
READER_PASSWORD = "reader-password-" + "r" * 16
DEPLOYED_READER = DEPLOYED_USER.with_name("lineage_reader.xml")


@pytest.fixture(scope="module")
def deployed_user_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ClickHouse server whose only users besides ``default`` are the compose stack's
    worker and reader users, files and all, with their passwords from the environment as
    compose gives them."""
    server = LocalClickHouse(
        tmp_path_factory.mktemp("deployed-user"),
        users=[DEPLOYED_USER, DEPLOYED_READER],
        environment={
            "CLICKHOUSE_PASSWORD": WORKER_PASSWORD,
            "CLICKHOUSE_READER_PASSWORD": READER_PASSWORD,
        },
    )
    url = server.up("lineage")
    yield url
    server.down()


def test_the_deployed_worker_user_has_every_right_a_worker_needs(
    deployed_user_server: str, settings: WorkerSettings
) -> None:
    """Pass: a worker logged in as the compose stack's user (its grants, nothing more)
    creates the tables, stores training lineage and predictions made before it, and derives
    their attribution and the model's closure: the rights the runbook lists suffice."""
    url = deployed_user_server.replace("http://", "http://lineage@")
    worker_settings = settings.replace(
        clickhouse_url=url,
        clickhouse_password=Secret(WORKER_PASSWORD),
        clickhouse_reader="lineage_reader",
        clickhouse_reader_password=Secret(READER_PASSWORD),
    )
    worker = WorkerProcess(worker_settings).start()
    try:
        with LineageClient.from_settings(worker_settings, namespace="acl") as client:
            client.emit_inference("p-1", model="m", model_version="1", output="x")
            worker.wait_for("SELECT 1 FROM inferences WHERE inference_id = 'p-1'", 1)
            client.emit_training_run("m", "1", [DatasetRef("d", "v1", "train")])
        worker.wait_for("SELECT 1 FROM inferences WHERE inference_id = 'p-1' AND resolved = 1", 1)
        worker.wait_for("SELECT ancestor FROM model_upstream FINAL", 2)
        assert "ACCESS_DENIED" not in worker.log(), worker.log()[-3000:]
        # People read as the reader: what the worker stored, nothing beyond the database.
        assert worker.query("SELECT currentUser()").rows == [["lineage_reader"]]
        direct = run_cli(worker_settings, "sql", "SELECT currentUser(), count() FROM inferences")
        assert direct.returncode == 0 and "lineage_reader" in direct.stdout, direct.stderr
        for sql in (
            "SELECT * FROM file('/etc/passwd', 'LineAsString')",
            "SELECT 1 FROM system.users",
        ):
            with pytest.raises(QueryError, match="Not enough privileges"):
                worker.query(sql)
    finally:
        worker.stop()


def test_a_wrong_password_is_refused_in_one_line_without_the_password(
    deployed_user_server: str, settings: WorkerSettings
) -> None:
    url = deployed_user_server.replace("http://", "http://lineage@")
    wrong = settings.replace(clickhouse_url=url, clickhouse_password=Secret(SETTING_PASSWORD))
    done = run_cli(wrong, "sql", "SELECT 1")
    assert done.returncode != 0
    assert "Authentication failed" in done.stderr, done.stderr
    assert SETTING_PASSWORD not in done.stderr and "Traceback" not in done.stderr
