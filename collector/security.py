"""Secrets and the Kafka security a client needs: kept out of logs, ``repr`` and messages.

:class:`Secret` holds a password or key; printing it, formatting it or putting it in a
``repr`` shows ``***``, and only :meth:`Secret.reveal` gives the value, at the one place that
hands it to a client library. :class:`KafkaSecurity` is how a client reaches Kafka (plaintext,
TLS, SASL/SCRAM over TLS) and turns into the configuration of confluent-kafka (librdkafka).
:func:`redact_in_logs` makes every log record of the process, whatever logged it, show ``***``
where a secret's value would appear.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage_collector.errors import ConfigError
from lineage_collector.log_hygiene import TEMPLATE_ATTR

MASK = "***"

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


class Secret:
    """A secret string whose ``str`` and ``repr`` are ``***``; :meth:`reveal` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself: only for handing it to the library that needs it."""
        return self._value

    def __str__(self) -> str:
        return MASK if self._value else ""

    def __repr__(self) -> str:
        return f"Secret({MASK!r})" if self._value else "Secret('')"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time: equality of secrets must not tell how much of one matched.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        # Pickling would write the value somewhere unseen; refuse rather than leak.
        raise TypeError("a Secret is not picklable")


# Secrets are immutable, so one empty one serves as every default.
NO_SECRET = Secret("")


@dataclass(frozen=True)
class KafkaSecurity:
    """How a Kafka client authenticates and encrypts; PLAINTEXT (the default) does neither."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: Secret = NO_SECRET
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(
                f"LINEAGE_KAFKA_SECURITY_PROTOCOL={self.protocol!r} is not one of "
                f"{', '.join(PROTOCOLS)}"
            )
        if self.sasl and self.mechanism not in MECHANISMS:
            raise ConfigError(
                f"LINEAGE_KAFKA_SASL_MECHANISM={self.mechanism!r} is not one of "
                f"{', '.join(MECHANISMS)}"
            )
        if self.sasl and not (self.username and self.password):
            raise ConfigError(
                f"LINEAGE_KAFKA_SECURITY_PROTOCOL={self.protocol} needs a user: set "
                "LINEAGE_KAFKA_SASL_USERNAME and LINEAGE_KAFKA_SASL_PASSWORD"
            )
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ConfigError(
                f"LINEAGE_KAFKA_SSL_CA_FILE={str(self.ca_file)!r} is not a readable file: "
                "point it at the PEM file of the CA that signed the brokers' certificates"
            )

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    def describe(self) -> str:
        """What the client presents, for messages: no secret in it."""
        if self.sasl:
            return f"{self.protocol} as user {self.username!r} ({self.mechanism})"
        return self.protocol

    def librdkafka(self) -> dict[str, Any]:
        """The confluent-kafka (librdkafka) configuration for this security."""
        if self.protocol == "PLAINTEXT":
            return {}
        conf: dict[str, Any] = {"security.protocol": self.protocol.lower()}
        if self.sasl:
            conf["sasl.mechanisms"] = self.mechanism
            conf["sasl.username"] = self.username
            conf["sasl.password"] = self.password.reveal()
        if self.tls and self.ca_file is not None:
            conf["ssl.ca.location"] = str(self.ca_file)
        return conf


# -- redaction in logs -----------------------------------------------------------------------

_redacted: set[str] = set()
_install_lock = threading.Lock()
_installed = False
# Shorter values would blank out ordinary words: no real secret is this short.
_MIN_REDACTED = 4


def redact(text: str) -> str:
    """``text`` with the value of every secret known to :func:`redact_in_logs` masked."""
    for value in sorted(_redacted, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_in_logs(secrets: Iterable[Secret | str]) -> None:
    """Mask these secrets' values in every log record of this process from now on.

    Works through the log record factory, so it holds for every logger and handler, also
    those a library (faust, librdkafka through confluent-kafka) sets up later.
    """
    global _installed
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if len(value) >= _MIN_REDACTED:
            _redacted.add(value)
    with _install_lock:
        if _installed:
            return
        _installed = True
        make = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            if not _redacted:
                return record
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: leave it to logging's own error path
                return record
            # The template still tells repeats of one complaint apart (log_hygiene); it
            # only keys a table, it is never written out.
            record.__dict__.setdefault(TEMPLATE_ATTR, record.msg)
            # Empty arguments, not None: formatters that treat None as one argument
            # (faust's) would format the message again, and fail on every '%' in it.
            record.msg, record.args = redact(message), ()
            if record.exc_info and not record.exc_text:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            return record

        logging.setLogRecordFactory(redacting_factory)


# -- what a refused connection means -------------------------------------------------------


def explain_refusal(code: str, detail: str, bootstrap: str, security: KafkaSecurity) -> str:
    """One line on why Kafka at ``bootstrap`` turned a client away, and what to set.

    ``code`` is librdkafka's error name (``_AUTHENTICATION``, ``_SSL``, ...), ``detail`` its
    message; neither holds a secret.
    """
    if code == "_AUTHENTICATION":
        return (
            f"Kafka at {bootstrap} refused {security.describe()}: SASL authentication failed. "
            "Check LINEAGE_KAFKA_SASL_USERNAME, LINEAGE_KAFKA_SASL_PASSWORD and "
            "LINEAGE_KAFKA_SASL_MECHANISM"
        )
    if code == "_SSL":
        if "certificate verify failed" in detail:
            return (
                f"the TLS certificate of Kafka at {bootstrap} is not signed by a CA this "
                "client trusts. Set LINEAGE_KAFKA_SSL_CA_FILE to the PEM file of the CA that "
                "signed it"
            )
        return f"the TLS handshake with Kafka at {bootstrap} failed ({detail}); check the CA"
    if not security.tls:
        return (
            f"Kafka at {bootstrap} did not answer {security.describe()} requests; if its "
            "listener requires TLS or SASL, set LINEAGE_KAFKA_SECURITY_PROTOCOL (and the user "
            "and CA settings) to match"
        )
    return f"Kafka at {bootstrap} did not answer ({detail})"
