"""Which token a request needs, and the refusal to run open beyond loopback."""

from __future__ import annotations

import pytest

from lineage_collector.security import NO_SECRET, Secret
from lineage_processors.settings import WorkerSettings
from lineage_processors.worker.auth import (
    Access,
    AuthError,
    Tokens,
    access_for,
    bearer,
    check_exposure,
)


def test_probes_and_metrics_are_open_ingest_needs_write_everything_else_read() -> None:
    assert access_for("GET", "/healthz") is Access.OPEN
    assert access_for("GET", "/readyz") is Access.OPEN
    assert access_for("GET", "/metrics") is Access.OPEN
    assert access_for("POST", "/api/v1/lineage") is Access.WRITE
    assert access_for("GET", "/api/v1/lineage") is Access.READ
    assert access_for("POST", "/sql") is Access.READ
    assert access_for("GET", "/") is Access.READ
    assert access_for("GET", "/api/v1/namespaces") is Access.READ


def test_bearer_header_parsing() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer("Bearer ") is None
    assert bearer(None) is None


def test_tokens_allow_only_their_own_side() -> None:
    tokens = Tokens(Secret("w" * 32), Secret("r" * 32))
    assert tokens.allows(Access.WRITE, "w" * 32)
    assert not tokens.allows(Access.WRITE, "r" * 32)
    assert not tokens.allows(Access.WRITE, None)
    assert tokens.allows(Access.READ, "r" * 32)
    assert not tokens.allows(Access.READ, "w" * 32)
    assert not tokens.allows(Access.READ, "r" * 31)
    assert tokens.allows(Access.OPEN, None)
    # A side without a token is open (allowed on loopback only, see below).
    assert Tokens(NO_SECRET, NO_SECRET).allows(Access.READ, None)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.5"])
def test_loopback_runs_without_tokens(host: str) -> None:
    check_exposure(WorkerSettings(worker_host=host))


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "worker.internal"])
def test_beyond_loopback_without_tokens_is_refused_saying_how_to_set_them(host: str) -> None:
    with pytest.raises(AuthError) as refused:
        check_exposure(WorkerSettings(worker_host=host, read_token="r" * 32))
    message = str(refused.value)
    assert "LINEAGE_WRITE_TOKEN" in message and "LINEAGE_READ_TOKEN" not in message
    assert "LINEAGE_ALLOW_UNAUTHENTICATED" in message
    check_exposure(WorkerSettings(worker_host=host, write_token="w" * 32, read_token="r" * 32))
    check_exposure(WorkerSettings(worker_host=host, allow_unauthenticated=True))
