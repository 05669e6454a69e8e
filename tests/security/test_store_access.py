"""ClickHouse credentials and TLS settings reach clickhouse-connect; no password ever shows.

The TLS endpoint is a real one: the secured Kafka broker's port, whose certificate our own
CA signed. Without that CA the client refuses the certificate; with it the handshake
passes and the client fails further on (it is no ClickHouse): both prove the setting was
passed through, and neither message may hold a password.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.security import Secret
from processors.errors import StoreError
from processors.store import ServerAccess, open_configured, open_store
from tests.conftest import run_cli
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
