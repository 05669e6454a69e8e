"""Kafka security (TLS, SASL) for the worker's Python Kafka clients: aiokafka and faust.

The SDK and the admin clients use librdkafka, configured by
:meth:`lineage_collector.security.KafkaSecurity.librdkafka`; the worker's batch consumers are
aiokafka and its producer (DLQ, HTTP ingest) is faust's, which take the same security in
their own terms.
"""

from __future__ import annotations

import ssl
from typing import Any

from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from lineage_collector.security import KafkaSecurity


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """A client TLS context that trusts the configured CA (else the system's), or None."""
    if not security.tls:
        return None
    context = ssl.create_default_context(
        cafile=str(security.ca_file) if security.ca_file is not None else None
    )
    # Brokers are checked against the name dialled, as librdkafka does by default.
    context.check_hostname = True
    return context


def aiokafka_options(security: KafkaSecurity) -> dict[str, Any]:
    """Keyword arguments of an aiokafka client for ``security``."""
    if security.protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": security.protocol}
    if security.tls:
        options["ssl_context"] = ssl_context(security)
    if security.sasl:
        options["sasl_mechanism"] = security.mechanism
        options["sasl_plain_username"] = security.username
        options["sasl_plain_password"] = security.password.reveal()
    return options


def faust_credentials(security: KafkaSecurity) -> CredentialsT | None:
    """faust's ``broker_credentials`` for ``security`` (None for plaintext)."""
    context = ssl_context(security)
    if security.sasl:
        return SASLCredentials(
            username=security.username,
            password=security.password.reveal(),
            ssl_context=context,
            mechanism=security.mechanism,
        )
    if context is not None:
        return SSLCredentials(context)
    return None
