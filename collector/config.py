"""The SDK's settings, typed and in one place: Kafka, topics, schema registry, spool.

Each setting is declared once in :data:`SETTINGS` with its environment variable, default and
meaning; :meth:`Settings.from_env` is the only place the environment is read. Library code
takes a :class:`Settings` (or plain arguments) and never looks at ``os.environ`` itself.
The worker's settings extend these (``lineage_processors.settings``); the README's settings
table is written from both (``lineage settings``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import unquote, urlsplit

from lineage_collector.errors import ConfigError
from lineage_collector.security import MECHANISMS, NO_SECRET, PROTOCOLS, KafkaSecurity, Secret
from lineage_collector.setting_spec import SettingSpec, nonempty, one_of, positive_int, secret

# A client of the local broker started secured finds its credentials and CA here (written by
# deploy/local/kafka-start.sh, readable by the owner only), as it finds the address in
# `bootstrap`.
LOCAL_SECURITY_FILE = "client-security.json"


def read_local_security(path: Path) -> KafkaSecurity:
    """The security of the local broker whose client file is ``path``; plaintext if none."""
    try:
        raw = json.loads(path.read_text())
        return KafkaSecurity(
            raw["protocol"],
            raw["mechanism"],
            raw["username"],
            Secret(raw["password"]),
            Path(raw["ca_file"]),
        )
    except FileNotFoundError:
        return KafkaSecurity()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path} cannot be read ({type(exc).__name__}); restart the local broker with "
            "`lineage down` and `lineage up`"
        ) from None


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :meth:`from_env` or construct it directly."""

    SPECS: ClassVar[tuple[SettingSpec, ...]] = ()
    """The declarations of this class's settings (set below, extended by subclasses)."""

    state_dir: Path = Path(".lineage")
    kafka_bootstrap: str = ""
    topic_events: str = "lineage.events"
    topic_inferences: str = "lineage.inferences"
    producer_name: str = field(default_factory=lambda: f"lineage-sdk@{socket.gethostname()}")
    schema_registry_url: str = ""
    subject_key: Secret = NO_SECRET
    spool_dir: Path | None = None
    spool_max_bytes: int = 1 << 30
    max_event_bytes: int = 1 << 20
    kafka_security_protocol: str = ""
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: Secret = NO_SECRET
    kafka_ssl_ca_file: Path | None = None

    def __post_init__(self) -> None:
        # Plain strings given for secrets (in code or tests) become Secrets all the same;
        # URLs stay strings (only their password is secret: see secret_values).
        for spec in self.SPECS:
            value = getattr(self, spec.field)
            if spec.secret and isinstance(value, str) and not spec.url:
                object.__setattr__(self, spec.field, Secret(value))

    def __repr__(self) -> str:
        shown = []
        for spec in self.SPECS:
            value = getattr(self, spec.field)
            shown.append(f"{spec.field}={'***' if spec.secret and value else value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Read every ``LINEAGE_*`` variable; ``overrides`` win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in cls.SPECS:
            raw = env.get(spec.env)
            if raw is None or raw == "":
                continue
            try:
                values[spec.field] = spec.parse(raw)
            except (ValueError, TypeError) as exc:
                shown = "***" if spec.secret else repr(raw)
                raise ConfigError(f"{spec.env}={shown} is not valid: {exc}. {spec.doc}") from None
        values.update(overrides)
        return cls(**values)

    # Derived locations. Kept as properties so that changing the state folder moves them all.

    @property
    def kafka_state_dir(self) -> Path:
        """Data, logs and pid of the local Kafka broker (of each node, in ``node-N``, when
        it runs three)."""
        return self.state_dir / "kafka"

    @property
    def effective_spool_dir(self) -> Path:
        """Where the SDK keeps events Kafka could not take yet."""
        return self.spool_dir if self.spool_dir is not None else self.state_dir / "spool"

    def resolve_bootstrap(self) -> str:
        """Kafka bootstrap servers: the configured cluster, else the local broker's address."""
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        marker = self.kafka_state_dir / "bootstrap"
        try:
            bootstrap = marker.read_text().strip()
        except FileNotFoundError:
            bootstrap = ""
        if not bootstrap:
            raise ConfigError(
                "No Kafka to talk to: start the local broker with `lineage up` "
                "or point LINEAGE_KAFKA_BOOTSTRAP at an existing cluster."
            )
        return bootstrap

    def kafka_security(self) -> KafkaSecurity:
        """How Kafka clients authenticate and encrypt: the LINEAGE_KAFKA_SECURITY_PROTOCOL
        settings when set; else, for the local broker started secured, its own credentials
        and CA; else plaintext."""
        if self.kafka_security_protocol:
            return KafkaSecurity(
                self.kafka_security_protocol,
                self.kafka_sasl_mechanism,
                self.kafka_sasl_username,
                self.kafka_sasl_password,
                self.kafka_ssl_ca_file,
            )
        if not self.kafka_bootstrap:
            return read_local_security(self.kafka_state_dir / LOCAL_SECURITY_FILE)
        return KafkaSecurity()

    def secret_values(self) -> list[Secret]:
        """Every secret these settings hold, for redaction: passwords, keys, URL passwords."""
        found = [getattr(self, s.field) for s in self.SPECS if s.secret and not s.url]
        secrets = [v for v in found if isinstance(v, Secret) and v]
        for url in (getattr(self, s.field) for s in self.SPECS if s.url):
            password = urlsplit(url).password if url else None
            if password:
                secrets.append(Secret(unquote(password)))
                secrets.append(Secret(password))
        return secrets

    def to_env(self) -> dict[str, str]:
        """The ``LINEAGE_*`` variables that reproduce these settings in a child process."""
        env = {}
        for spec in self.SPECS:
            value = getattr(self, spec.field)
            if value in ("", None) or value == NO_SECRET:
                continue
            if isinstance(value, Path):
                env[spec.env] = str(value.resolve())
            elif isinstance(value, Secret):
                env[spec.env] = value.reveal()
            elif isinstance(value, bool):
                env[spec.env] = "1" if value else "0"
            else:
                env[spec.env] = str(value)
        return env

    def replace(self, **changes: Any) -> Self:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "state_dir",
        "LINEAGE_STATE_DIR",
        "Folder for local state: Kafka data and logs, the embedded store, the worker's pid, "
        "port and log, the SDK's spool. Unset: the `lineage` commands use the nearest "
        "`.lineage` folder at or above the current one, else "
        "`$XDG_STATE_HOME/lineage-collector` (`~/.local/state/lineage-collector`); `lineage "
        "up` in a git checkout with none above creates `.lineage` there. The SDK in a "
        "service uses `.lineage` in its working directory.",
        lambda raw: Path(nonempty(raw)),
    ),
    SettingSpec(
        "kafka_bootstrap",
        "LINEAGE_KAFKA_BOOTSTRAP",
        "`host:port[,host:port]` of an existing Kafka cluster. Unset: the local broker "
        "started by `lineage up`.",
        nonempty,
    ),
    SettingSpec(
        "topic_events",
        "LINEAGE_TOPIC_EVENTS",
        "Topic of graph events. Default `lineage.events`.",
        nonempty,
    ),
    SettingSpec(
        "topic_inferences",
        "LINEAGE_TOPIC_INFERENCES",
        "Topic of inference events. Default `lineage.inferences`.",
        nonempty,
    ),
    SettingSpec(
        "producer_name",
        "LINEAGE_PRODUCER",
        "Name recorded as the `producer` of every event the SDK emits. "
        "Default `lineage-sdk@<hostname>`.",
        nonempty,
    ),
    SettingSpec(
        "schema_registry_url",
        "LINEAGE_SCHEMA_REGISTRY_URL",
        "URL of a Confluent-compatible schema registry. Set: the SDK writes Confluent framing "
        "(`00` + schema id) and registers its schemas there. Unset: Avro single-object "
        "encoding. Consumers read both either way.",
        nonempty,
        secret=True,
        url=True,
    ),
    SettingSpec(
        "subject_key",
        "LINEAGE_SUBJECT_KEY",
        "Secret key (at least 32 characters) for HMAC-SHA256 pseudonyms of personal "
        "identifiers. Required to emit or look up subjects; keep it stable, or the same "
        "person gets a new pseudonym.",
        secret,
        secret=True,
    ),
    SettingSpec(
        "spool_dir",
        "LINEAGE_SPOOL_DIR",
        "Folder of the SDK's disk spool, where events wait while Kafka is unreachable. "
        "Default `<state>/spool`.",
        lambda raw: Path(nonempty(raw)),
    ),
    SettingSpec(
        "spool_max_bytes",
        "LINEAGE_SPOOL_MAX_BYTES",
        "Largest size of one producer's spool on disk; past it, emit calls raise. Default 1 GiB.",
        positive_int,
    ),
    SettingSpec(
        "max_event_bytes",
        "LINEAGE_MAX_EVENT_BYTES",
        "Largest encoded event the SDK accepts (Kafka's default limit is 1 MiB). Default 1048576.",
        positive_int,
    ),
    SettingSpec(
        "kafka_security_protocol",
        "LINEAGE_KAFKA_SECURITY_PROTOCOL",
        f"How clients reach Kafka: {', '.join(PROTOCOLS)}. Unset: PLAINTEXT, or for the "
        "local broker started with LINEAGE_KAFKA_LOCAL_SECURE its own SASL_SSL user and CA.",
        one_of(PROTOCOLS),
    ),
    SettingSpec(
        "kafka_sasl_mechanism",
        "LINEAGE_KAFKA_SASL_MECHANISM",
        f"SASL mechanism with SASL_* protocols: {', '.join(MECHANISMS)}. Default SCRAM-SHA-512.",
        one_of(MECHANISMS),
    ),
    SettingSpec(
        "kafka_sasl_username",
        "LINEAGE_KAFKA_SASL_USERNAME",
        "Kafka user with SASL_* protocols.",
        nonempty,
    ),
    SettingSpec(
        "kafka_sasl_password",
        "LINEAGE_KAFKA_SASL_PASSWORD",
        "Password of that user. Never shown in logs or messages.",
        secret,
        secret=True,
    ),
    SettingSpec(
        "kafka_ssl_ca_file",
        "LINEAGE_KAFKA_SSL_CA_FILE",
        "PEM file of the CA that signed the brokers' certificates, with SSL and SASL_SSL. "
        "Unset: the system's trusted CAs.",
        lambda raw: Path(nonempty(raw)),
    ),
)


Settings.SPECS = SETTINGS
