"""Who may do what on the worker's HTTP port: bearer tokens, one to write and one to read.

``POST /api/v1/lineage`` takes the write token (what openlineage-python's ``api_key`` auth
sends as ``Authorization: Bearer``); ``/sql``, the read API and the UI take the read token;
the probes and ``/metrics`` stay open, as orchestrators and Prometheus reach them without
credentials. A token that is not set leaves its side open, which only a worker bound to
loopback may do (:func:`check_exposure`).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from enum import Enum

from lineage_collector.security import Secret
from lineage_processors.errors import ProcessorError
from lineage_processors.settings import WorkerSettings

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
WRITE_PATHS = frozenset({"/api/v1/lineage"})


class AuthError(ProcessorError):
    """The worker's HTTP port would be open to the network without tokens."""


class Access(Enum):
    OPEN = "open"
    WRITE = "write"
    READ = "read"


def access_for(method: str, path: str) -> Access:
    """Which token a request needs. Writes are POSTs to the ingest path; all else reads."""
    if path in OPEN_PATHS:
        return Access.OPEN
    if path in WRITE_PATHS and method.upper() == "POST":
        return Access.WRITE
    return Access.READ


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True)
class Tokens:
    """The worker's tokens; an unset one (empty) leaves its side open."""

    write: Secret
    read: Secret

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> Tokens:
        return cls(settings.write_token, settings.read_token)

    def allows(self, access: Access, presented: str | None) -> bool:
        """True if ``presented`` may do ``access``; compared in constant time."""
        if access is Access.OPEN:
            return True
        expected = self.write if access is Access.WRITE else self.read
        if not expected:
            return True
        if presented is None:
            return False
        return hmac.compare_digest(presented.encode(), expected.reveal().encode())


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (``127.0.0.1``, ``::1``, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve beyond this machine


def check_exposure(settings: WorkerSettings) -> None:
    """Refuse a worker reachable from the network without both tokens, unless allowed."""
    if is_loopback(settings.worker_host) or settings.allow_unauthenticated:
        return
    missing = [
        name
        for name, token in (
            ("LINEAGE_WRITE_TOKEN", settings.write_token),
            ("LINEAGE_READ_TOKEN", settings.read_token),
        )
        if not token
    ]
    if missing:
        raise AuthError(
            f"the worker would listen on {settings.worker_host}, beyond this machine, with "
            f"no {' and no '.join(missing)}: anyone reaching it could write lineage and read "
            "everything. Set both tokens (e.g. `openssl rand -hex 32` each; OpenLineage "
            "clients send the write token as their api_key, the CLI sends the read token), "
            "or bind LINEAGE_WORKER_HOST to 127.0.0.1, or set "
            "LINEAGE_ALLOW_UNAUTHENTICATED=1 to run open anyway"
        )
