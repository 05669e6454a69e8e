"""Every setting of lineage-collector, typed and in one place.

Each setting is declared once in :data:`SETTINGS` with its environment variable, default and
meaning; :meth:`Settings.from_env` is the only place the environment is read. Library code
takes a :class:`Settings` (or plain arguments) and never looks at ``os.environ`` itself.
The README's settings table is written from these declarations (``lineage settings``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from lineage_collector.errors import ConfigError
from lineage_collector.security import MECHANISMS, NO_SECRET, PROTOCOLS, KafkaSecurity, Secret


@dataclass(frozen=True)
class SettingSpec:
    """One setting: the field it fills, its environment variable, and what it means."""

    field: str
    env: str
    doc: str
    parse: Callable[[str], Any]
    secret: bool = False


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # also refuses nan
        raise ValueError("must be 0 or a positive number")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be a TCP port between 0 and 65535 (0 picks a free one)")
    return value


def _nonempty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _broker_count(raw: str) -> int:
    value = int(raw)
    if value not in (1, 3):
        raise ValueError("must be 1 or 3")
    return value


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return level


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be 1 or 0 (true or false)")


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _secret(raw: str) -> Secret:
    return Secret(_nonempty(raw))


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


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lineage-collector"


# Settings that are URLs which may carry a password: kept as strings, shown redacted.
SECRET_URLS = ("clickhouse_url", "schema_registry_url")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :meth:`from_env` or construct it directly."""

    state_dir: Path = Path(".lineage")
    cache_dir: Path = field(default_factory=_default_cache_dir)
    kafka_bootstrap: str = ""
    clickhouse_url: str = ""
    topic_events: str = "lineage.events"
    topic_inferences: str = "lineage.inferences"
    topic_openlineage: str = "openlineage.events"
    topic_dlq: str = "lineage.dlq"
    topic_partitions: int = 4
    consumer_group: str = "lineage-processors"
    worker_host: str = "127.0.0.1"
    worker_port: int = 6066
    batch_size: int = 100_000
    batch_seconds: float = 0.25
    derive_max_records: int = 50_000
    producer_name: str = field(default_factory=lambda: f"lineage-sdk@{socket.gethostname()}")
    kafka_start_timeout: float = 90.0
    kafka_brokers: int = 1
    log_level: str = "INFO"
    log_max_bytes: int = 50 << 20
    log_backups: int = 5
    schema_registry_url: str = ""
    subject_key: Secret = NO_SECRET
    spool_dir: Path | None = None
    spool_max_bytes: int = 1 << 30
    max_event_bytes: int = 1 << 20
    ingest_max_bytes: int = 1 << 20
    inference_retention_days: int = 0
    fault_kill_after_store: int = 0
    lag_interval: float = 5.0
    coverage_interval: float = 60.0
    ready_write_failure_seconds: float = 30.0
    kafka_security_protocol: str = ""
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: Secret = NO_SECRET
    kafka_ssl_ca_file: Path | None = None
    kafka_local_secure: bool = False
    clickhouse_password: Secret = NO_SECRET
    clickhouse_ca_file: Path | None = None
    clickhouse_verify: bool = True
    clickhouse_reader: str = ""
    clickhouse_reader_password: Secret = NO_SECRET
    read_max_seconds: float = 30.0
    read_max_memory: int = 1 << 30
    read_max_rows: int = 100_000
    read_max_bytes: int = 64 << 20
    read_max_threads: int = 2
    read_concurrency: int = 2
    write_token: Secret = NO_SECRET
    read_token: Secret = NO_SECRET
    allow_unauthenticated: bool = False
    http_body_seconds: float = 10.0
    ingest_max_in_flight: int = 256

    def __post_init__(self) -> None:
        # Plain strings given for secrets (in code or tests) become Secrets all the same;
        # URLs stay strings (only their password is secret: see secret_values).
        for spec in SETTINGS:
            value = getattr(self, spec.field)
            if spec.secret and isinstance(value, str) and spec.field not in SECRET_URLS:
                object.__setattr__(self, spec.field, Secret(value))

    def __repr__(self) -> str:
        shown = []
        for spec in SETTINGS:
            value = getattr(self, spec.field)
            shown.append(f"{spec.field}={'***' if spec.secret and value else value!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Read every ``LINEAGE_*`` variable; ``overrides`` win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in SETTINGS:
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
    def worker_state_dir(self) -> Path:
        """Pid and log of a worker started by ``lineage up``, and faust's own data."""
        return self.state_dir / "worker"

    @property
    def effective_spool_dir(self) -> Path:
        """Where the SDK keeps events Kafka could not take yet."""
        return self.spool_dir if self.spool_dir is not None else self.state_dir / "spool"

    @property
    def effective_clickhouse_url(self) -> str:
        """The ClickHouse URL, defaulting to an embedded chDB store in the state folder."""
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{(self.state_dir / 'chdb').resolve()}"

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
        found = [getattr(self, s.field) for s in SETTINGS if s.secret]
        secrets = [v for v in found if isinstance(v, Secret) and v]
        for url in (getattr(self, name) for name in SECRET_URLS):
            password = urlsplit(url).password if url else None
            if password:
                secrets.append(Secret(unquote(password)))
                secrets.append(Secret(password))
        return secrets

    def to_env(self) -> dict[str, str]:
        """The ``LINEAGE_*`` variables that reproduce these settings in a child process."""
        env = {}
        for spec in SETTINGS:
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
        "Folder for local state: Kafka data and logs, the embedded store, pid files. "
        "Default `.lineage` in the working directory.",
        lambda raw: Path(_nonempty(raw)),
    ),
    SettingSpec(
        "cache_dir",
        "LINEAGE_CACHE_DIR",
        "Where the Kafka jars are downloaded once. Default `~/.cache/lineage-collector`.",
        lambda raw: Path(_nonempty(raw)),
    ),
    SettingSpec(
        "kafka_bootstrap",
        "LINEAGE_KAFKA_BOOTSTRAP",
        "`host:port[,host:port]` of an existing Kafka cluster. Unset: the local broker "
        "started by `lineage up`.",
        _nonempty,
    ),
    SettingSpec(
        "clickhouse_url",
        "LINEAGE_CLICKHOUSE_URL",
        "`chdb:///path` for the embedded store (default: `<state>/chdb`) or "
        "`http(s)://user:password@host:port/database` for a ClickHouse server.",
        _nonempty,
        secret=True,
    ),
    SettingSpec(
        "topic_events",
        "LINEAGE_TOPIC_EVENTS",
        "Topic of graph events. Default `lineage.events`.",
        _nonempty,
    ),
    SettingSpec(
        "topic_inferences",
        "LINEAGE_TOPIC_INFERENCES",
        "Topic of inference events. Default `lineage.inferences`.",
        _nonempty,
    ),
    SettingSpec(
        "topic_openlineage",
        "LINEAGE_TOPIC_OPENLINEAGE",
        "Topic of OpenLineage JSON events. Default `openlineage.events`.",
        _nonempty,
    ),
    SettingSpec(
        "topic_dlq",
        "LINEAGE_TOPIC_DLQ",
        "Dead-letter topic for records that cannot be processed. Default `lineage.dlq`.",
        _nonempty,
    ),
    SettingSpec(
        "topic_partitions",
        "LINEAGE_TOPIC_PARTITIONS",
        "Partitions given to the topics when they are created. Default 4.",
        _positive_int,
    ),
    SettingSpec(
        "consumer_group",
        "LINEAGE_CONSUMER_GROUP",
        "Kafka consumer group of the workers. Default `lineage-processors`.",
        _nonempty,
    ),
    SettingSpec(
        "worker_host",
        "LINEAGE_WORKER_HOST",
        "Address the worker's HTTP endpoint binds to. Default `127.0.0.1`.",
        _nonempty,
    ),
    SettingSpec(
        "worker_port",
        "LINEAGE_WORKER_PORT",
        "Port of the worker's HTTP endpoint: read-only SQL at `/sql`, Prometheus metrics at "
        "`/metrics`, probes at `/healthz` and `/readyz`. Default 6066.",
        _port,
    ),
    SettingSpec(
        "batch_size",
        "LINEAGE_BATCH_SIZE",
        "Most events the worker writes to ClickHouse in one batch (each prediction counts "
        "as one). Default 100000: each insert has a fixed cost, so larger batches keep up "
        "with more, but the worker holds a whole batch in memory. At 100000 it ingests "
        "predictions about as fast as at 200000 and stays under 500 MB resident (see "
        "Benchmarks).",
        _positive_int,
    ),
    SettingSpec(
        "batch_seconds",
        "LINEAGE_BATCH_SECONDS",
        "Longest the worker waits to fill a batch before writing it: at a steady rate, "
        "what an event waits before it is written. Default 0.25; a backlog fills batches "
        "sooner, so this costs throughput nothing.",
        _positive_float,
    ),
    SettingSpec(
        "derive_max_records",
        "LINEAGE_DERIVE_MAX_RECORDS",
        "Most records whose lineage one run of the derived state (closures, tag impacts, "
        "late attributions) takes up; the rest waits for the next run, which starts at "
        "once. A run's memory grows with what it covers, so this bounds the worker's "
        "memory when it catches up after a long stop (200,000 training runs taken up in "
        "one run: 750 MB resident; 50,000 at a time: 455 MB). Lower holds less and "
        "catches up more slowly (20,000: 410 MB, 14% slower). Default 50000.",
        _positive_int,
    ),
    SettingSpec(
        "producer_name",
        "LINEAGE_PRODUCER",
        "Name recorded as the `producer` of every event the SDK emits. "
        "Default `lineage-sdk@<hostname>`.",
        _nonempty,
    ),
    SettingSpec(
        "kafka_start_timeout",
        "LINEAGE_KAFKA_START_TIMEOUT",
        "Seconds `lineage up` waits for the local broker to answer. Default 90.",
        _positive_float,
    ),
    SettingSpec(
        "kafka_brokers",
        "LINEAGE_KAFKA_BROKERS",
        "Brokers `lineage up` starts for the local Kafka: 1, or 3 (three KRaft nodes on "
        "loopback, in `<state>/kafka/node-1` to `node-3`; topics get 3 replicas and "
        "`min.insync.replicas=2`, so one node may die while events flow). "
        "`lineage up --brokers N` overrides it. Default 1.",
        _broker_count,
    ),
    SettingSpec(
        "schema_registry_url",
        "LINEAGE_SCHEMA_REGISTRY_URL",
        "URL of a Confluent-compatible schema registry. Set: the SDK writes Confluent framing "
        "(`00` + schema id) and registers its schemas there. Unset: Avro single-object "
        "encoding. Consumers read both either way.",
        _nonempty,
        secret=True,
    ),
    SettingSpec(
        "subject_key",
        "LINEAGE_SUBJECT_KEY",
        "Secret key (at least 32 characters) for HMAC-SHA256 pseudonyms of personal "
        "identifiers. Required to emit or look up subjects; keep it stable, or the same "
        "person gets a new pseudonym.",
        _secret,
        secret=True,
    ),
    SettingSpec(
        "spool_dir",
        "LINEAGE_SPOOL_DIR",
        "Folder of the SDK's disk spool, where events wait while Kafka is unreachable. "
        "Default `<state>/spool`.",
        lambda raw: Path(_nonempty(raw)),
    ),
    SettingSpec(
        "spool_max_bytes",
        "LINEAGE_SPOOL_MAX_BYTES",
        "Largest size of one producer's spool on disk; past it, emit calls raise. Default 1 GiB.",
        _positive_int,
    ),
    SettingSpec(
        "max_event_bytes",
        "LINEAGE_MAX_EVENT_BYTES",
        "Largest encoded event the SDK accepts (Kafka's default limit is 1 MiB). Default 1048576.",
        _positive_int,
    ),
    SettingSpec(
        "ingest_max_bytes",
        "LINEAGE_INGEST_MAX_BYTES",
        "Largest request body the OpenLineage HTTP endpoint accepts. Default 1048576.",
        _positive_int,
    ),
    SettingSpec(
        "inference_retention_days",
        "LINEAGE_INFERENCE_RETENTION_DAYS",
        "Days predictions are kept in the store; older ones are dropped as ClickHouse "
        "merges. Predictions are about people: set this to your retention policy. "
        "Merges that drop expired rows rebuild the lookups by id and by person, which "
        "costs the worker more memory under load (see Benchmarks). Default 0: kept for ever.",
        _non_negative_int,
    ),
    SettingSpec(
        "fault_kill_after_store",
        "LINEAGE_FAULT_KILL_AFTER_STORE",
        "For reliability tests only: the worker kills itself (SIGKILL) right after storing "
        "its Nth batch, before committing that batch's offsets, the moment a crash is "
        "hardest to recover from. Default 0: never.",
        _non_negative_int,
    ),
    SettingSpec(
        "kafka_security_protocol",
        "LINEAGE_KAFKA_SECURITY_PROTOCOL",
        f"How clients reach Kafka: {', '.join(PROTOCOLS)}. Unset: PLAINTEXT, or for the "
        "local broker started with LINEAGE_KAFKA_LOCAL_SECURE its own SASL_SSL user and CA.",
        _one_of(PROTOCOLS),
    ),
    SettingSpec(
        "kafka_sasl_mechanism",
        "LINEAGE_KAFKA_SASL_MECHANISM",
        f"SASL mechanism with SASL_* protocols: {', '.join(MECHANISMS)}. Default SCRAM-SHA-512.",
        _one_of(MECHANISMS),
    ),
    SettingSpec(
        "kafka_sasl_username",
        "LINEAGE_KAFKA_SASL_USERNAME",
        "Kafka user with SASL_* protocols.",
        _nonempty,
    ),
    SettingSpec(
        "kafka_sasl_password",
        "LINEAGE_KAFKA_SASL_PASSWORD",
        "Password of that user. Never shown in logs or messages.",
        _secret,
        secret=True,
    ),
    SettingSpec(
        "kafka_ssl_ca_file",
        "LINEAGE_KAFKA_SSL_CA_FILE",
        "PEM file of the CA that signed the brokers' certificates, with SSL and SASL_SSL. "
        "Unset: the system's trusted CAs.",
        lambda raw: Path(_nonempty(raw)),
    ),
    SettingSpec(
        "kafka_local_secure",
        "LINEAGE_KAFKA_LOCAL_SECURE",
        "1: `lineage up` starts the local broker with SASL/SCRAM over TLS only (a CA, a "
        "keystore and SCRAM users generated into its state folder), and clients use them. "
        "Fixed when the broker's state folder is first created. Default 0.",
        _flag,
    ),
    SettingSpec(
        "clickhouse_password",
        "LINEAGE_CLICKHOUSE_PASSWORD",
        "Password for the ClickHouse server user, instead of one in LINEAGE_CLICKHOUSE_URL. "
        "Never shown in logs or messages.",
        _secret,
        secret=True,
    ),
    SettingSpec(
        "clickhouse_ca_file",
        "LINEAGE_CLICKHOUSE_CA_FILE",
        "PEM file of the CA that signed an `https://` ClickHouse server's certificate. "
        "Unset: the system's trusted CAs.",
        lambda raw: Path(_nonempty(raw)),
    ),
    SettingSpec(
        "clickhouse_verify",
        "LINEAGE_CLICKHOUSE_VERIFY",
        "0: do not verify an `https://` ClickHouse server's certificate (tests only). Default 1.",
        _flag,
    ),
    SettingSpec(
        "clickhouse_reader",
        "LINEAGE_CLICKHOUSE_READER",
        "On a ClickHouse server: the read-only user that people's reads (`lineage sql`, the "
        "query commands, the worker's `/sql` and read API) log in as, e.g. `lineage_reader` "
        "of `deploy/compose/clickhouse/users.d`. Unset: reads use the writer's login, "
        "each with `readonly=1` and the LINEAGE_READ_* limits. The embedded store always "
        "reads on sessions of its own, locked read-only with those limits.",
        _nonempty,
    ),
    SettingSpec(
        "clickhouse_reader_password",
        "LINEAGE_CLICKHOUSE_READER_PASSWORD",
        "Password of LINEAGE_CLICKHOUSE_READER. Never shown in logs or messages.",
        _secret,
        secret=True,
    ),
    SettingSpec(
        "read_max_seconds",
        "LINEAGE_READ_MAX_SECONDS",
        "Longest one read may run before ClickHouse stops it. Default 30.",
        _positive_float,
    ),
    SettingSpec(
        "read_max_memory",
        "LINEAGE_READ_MAX_MEMORY",
        "Most memory, in bytes, one read may use; past it ClickHouse stops it. On the "
        "embedded store this memory is the worker's own. Default 1073741824 (1 GiB).",
        _positive_int,
    ),
    SettingSpec(
        "read_max_rows",
        "LINEAGE_READ_MAX_ROWS",
        "Most rows a read may answer; a larger result is refused (add LIMIT or narrow the "
        "question). Default 100000.",
        _positive_int,
    ),
    SettingSpec(
        "read_max_bytes",
        "LINEAGE_READ_MAX_BYTES",
        "Most bytes a read may answer, uncompressed; a larger result is refused. "
        "Default 67108864 (64 MiB).",
        _positive_int,
    ),
    SettingSpec(
        "read_max_threads",
        "LINEAGE_READ_MAX_THREADS",
        "Threads one read may use in ClickHouse. Default 2.",
        _positive_int,
    ),
    SettingSpec(
        "read_concurrency",
        "LINEAGE_READ_CONCURRENCY",
        "Reads the worker runs at once, each on a store session and a thread of its own "
        "(never the writer's); more wait their turn. Default 2.",
        _positive_int,
    ),
    SettingSpec(
        "write_token",
        "LINEAGE_WRITE_TOKEN",
        "Bearer token that `POST /api/v1/lineage` requires (what an OpenLineage client's "
        "`api_key` sends). Required, with LINEAGE_READ_TOKEN, when the worker binds to an "
        "address other than loopback. Never shown in logs or messages.",
        _secret,
        secret=True,
    ),
    SettingSpec(
        "read_token",
        "LINEAGE_READ_TOKEN",
        "Bearer token that `/sql` and every read endpoint require; the CLI sends it. "
        "`/healthz`, `/readyz` and `/metrics` stay open. Never shown in logs or messages.",
        _secret,
        secret=True,
    ),
    SettingSpec(
        "allow_unauthenticated",
        "LINEAGE_ALLOW_UNAUTHENTICATED",
        "1: let a worker bound beyond loopback start without tokens (anyone who reaches it "
        "can then write lineage and read everything). Default 0: it refuses to start.",
        _flag,
    ),
    SettingSpec(
        "http_body_seconds",
        "LINEAGE_HTTP_BODY_SECONDS",
        "Longest the worker waits for a request's body; a slower one is cut with 408. Default 10.",
        _positive_float,
    ),
    SettingSpec(
        "ingest_max_in_flight",
        "LINEAGE_INGEST_MAX_IN_FLIGHT",
        "Most `POST /api/v1/lineage` requests the worker handles at once; more get 503 with "
        "`Retry-After`. Default 256.",
        _positive_int,
    ),
    SettingSpec(
        "lag_interval",
        "LINEAGE_LAG_INTERVAL",
        "Seconds between measurements of the consumer group's lag, per partition: log-end "
        "offsets against the group's committed offsets, and the age of the oldest record not "
        "yet committed (`lineage_consumer_lag_records`, `lineage_consumer_lag_seconds`). "
        "Default 5. 0: not measured.",
        _non_negative_float,
    ),
    SettingSpec(
        "coverage_interval",
        "LINEAGE_COVERAGE_INTERVAL",
        "Seconds between coverage measurements (`lineage_coverage_*`): a few aggregate queries "
        "on the store, run between batches. Default 60. 0: not measured (run it on one worker "
        "of a group, say, as every worker would report the same figures).",
        _non_negative_float,
    ),
    SettingSpec(
        "ready_write_failure_seconds",
        "LINEAGE_READY_WRITE_FAILURE_SECONDS",
        "Seconds the worker's writes to ClickHouse may keep failing (each retried with "
        "backoff, nothing committed meanwhile) before `/readyz` answers 503 naming the "
        "failure, though ClickHouse still answers queries: a full disk, too many parts, a "
        "read-only replica, lost rights. Default 30: a blip of a few retries leaves the "
        "worker ready.",
        _positive_float,
    ),
    SettingSpec(
        "log_level",
        "LINEAGE_LOG_LEVEL",
        "DEBUG, INFO, WARNING or ERROR. Default INFO.",
        _log_level,
    ),
    SettingSpec(
        "log_max_bytes",
        "LINEAGE_LOG_MAX_BYTES",
        "Size at which the worker's log file (`<state>/worker/worker.log` under `lineage up`, "
        "or `lineage worker --log-file`) is renamed `.1` and a new one begun; what the "
        "process writes outside logging goes there too. Default 52428800 (50 MiB).",
        _positive_int,
    ),
    SettingSpec(
        "log_backups",
        "LINEAGE_LOG_BACKUPS",
        "Rotated worker log files kept (`worker.log.1` the newest); older ones are deleted, "
        "so the logs take at most (1 + this) times LINEAGE_LOG_MAX_BYTES. Default 5.",
        _positive_int,
    ),
)


def settings_table() -> str:
    """The Markdown table of every setting, as the README shows it."""
    lines = ["| Variable | Meaning |", "|---|---|"]
    lines += [f"| `{spec.env}` | {spec.doc} |" for spec in SETTINGS]
    return "\n".join(lines)
