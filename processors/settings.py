"""The settings of the worker, the store and the command line, beside the SDK's own.

:class:`WorkerSettings` extends the SDK's :class:`~lineage_collector.config.Settings` (Kafka,
topics, registry, spool) with what only the worker side reads: the store, the worker's HTTP
port and limits, batching, the local stack. Both are declared the same way
(:class:`~lineage_collector.setting_spec.SettingSpec`) and read from the same ``LINEAGE_*``
variables; :func:`settings_table` shows them all, as the README does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lineage_collector.config import SETTINGS as SDK_SETTINGS
from lineage_collector.config import Settings
from lineage_collector.security import NO_SECRET, Secret
from lineage_collector.setting_spec import (
    SettingSpec,
    broker_count,
    flag,
    log_level,
    non_negative_float,
    non_negative_int,
    nonempty,
    port,
    positive_float,
    positive_int,
    secret,
)


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lineage-collector"


@dataclass(frozen=True, repr=False)
class WorkerSettings(Settings):
    """Resolved configuration of the worker side. Build it with :meth:`from_env`."""

    cache_dir: Path = field(default_factory=_default_cache_dir)
    clickhouse_url: str = ""
    topic_openlineage: str = "openlineage.events"
    topic_dlq: str = "lineage.dlq"
    topic_partitions: int = 4
    consumer_group: str = "lineage-processors"
    worker_host: str = "127.0.0.1"
    worker_port: int = 6066
    worker_instance: str = ""
    batch_size: int = 100_000
    batch_seconds: float = 0.25
    derive_max_records: int = 50_000
    kafka_start_timeout: float = 90.0
    kafka_brokers: int = 1
    log_level: str = "INFO"
    log_max_bytes: int = 50 << 20
    log_backups: int = 5
    ingest_max_bytes: int = 1 << 20
    inference_retention_days: int = 0
    fault_kill_after_store: int = 0
    lag_interval: float = 5.0
    coverage_interval: float = 60.0
    ready_write_failure_seconds: float = 30.0
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

    @property
    def worker_state_dir(self) -> Path:
        """Pid and log of a worker started by ``lineage up``, and faust's own data."""
        return self.state_dir / "worker"

    @property
    def effective_clickhouse_url(self) -> str:
        """The ClickHouse URL, defaulting to an embedded chDB store in the state folder."""
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{(self.state_dir / 'chdb').resolve()}"


WORKER_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "cache_dir",
        "LINEAGE_CACHE_DIR",
        "Where the Kafka jars are downloaded once. Default `~/.cache/lineage-collector`.",
        lambda raw: Path(nonempty(raw)),
    ),
    SettingSpec(
        "clickhouse_url",
        "LINEAGE_CLICKHOUSE_URL",
        "`chdb:///path` for the embedded store (default: `<state>/chdb`) or "
        "`http(s)://user:password@host:port/database` for a ClickHouse server.",
        nonempty,
        secret=True,
        url=True,
    ),
    SettingSpec(
        "topic_openlineage",
        "LINEAGE_TOPIC_OPENLINEAGE",
        "Topic of OpenLineage JSON events. Default `openlineage.events`.",
        nonempty,
    ),
    SettingSpec(
        "topic_dlq",
        "LINEAGE_TOPIC_DLQ",
        "Dead-letter topic for records that cannot be processed. Default `lineage.dlq`.",
        nonempty,
    ),
    SettingSpec(
        "topic_partitions",
        "LINEAGE_TOPIC_PARTITIONS",
        "Partitions given to the topics when they are created. Default 4.",
        positive_int,
    ),
    SettingSpec(
        "consumer_group",
        "LINEAGE_CONSUMER_GROUP",
        "Kafka consumer group of the workers. Default `lineage-processors`.",
        nonempty,
    ),
    SettingSpec(
        "worker_host",
        "LINEAGE_WORKER_HOST",
        "Address the worker's HTTP endpoint binds to. Default `127.0.0.1`.",
        nonempty,
    ),
    SettingSpec(
        "worker_port",
        "LINEAGE_WORKER_PORT",
        "Port of the worker's HTTP endpoint: read-only SQL at `/sql`, Prometheus metrics at "
        "`/metrics`, probes at `/healthz` and `/readyz`. Default 6066; unset, `lineage up` "
        "gives its worker a free one, kept in `<state>/worker/ports.json`.",
        port,
    ),
    SettingSpec(
        "worker_instance",
        "LINEAGE_WORKER_INSTANCE",
        "Name the worker reports on `/healthz`. `lineage up` sets a random one and counts as its "
        "worker only a server reporting it, never another program on the port. Default none.",
        nonempty,
    ),
    SettingSpec(
        "batch_size",
        "LINEAGE_BATCH_SIZE",
        "Most events the worker writes to ClickHouse in one batch (each prediction counts "
        "as one). Default 100000: each insert has a fixed cost, so larger batches keep up "
        "with more, but the worker holds a whole batch in memory. At 100000 it ingests "
        "predictions about as fast as at 200000 and stays under 500 MB resident (see "
        "Benchmarks).",
        positive_int,
    ),
    SettingSpec(
        "batch_seconds",
        "LINEAGE_BATCH_SECONDS",
        "Longest the worker waits to fill a batch before writing it: at a steady rate, "
        "what an event waits before it is written. Default 0.25; a backlog fills batches "
        "sooner, so this costs throughput nothing.",
        positive_float,
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
        positive_int,
    ),
    SettingSpec(
        "kafka_start_timeout",
        "LINEAGE_KAFKA_START_TIMEOUT",
        "Seconds `lineage up` waits for the local broker to answer. Default 90.",
        positive_float,
    ),
    SettingSpec(
        "kafka_brokers",
        "LINEAGE_KAFKA_BROKERS",
        "Brokers `lineage up` starts for the local Kafka: 1, or 3 (three KRaft nodes on "
        "loopback, in `<state>/kafka/node-1` to `node-3`; topics get 3 replicas and "
        "`min.insync.replicas=2`, so one node may die while events flow). "
        "`lineage up --brokers N` overrides it. Default 1.",
        broker_count,
    ),
    SettingSpec(
        "ingest_max_bytes",
        "LINEAGE_INGEST_MAX_BYTES",
        "Largest request body the OpenLineage HTTP endpoint accepts. Default 1048576.",
        positive_int,
    ),
    SettingSpec(
        "inference_retention_days",
        "LINEAGE_INFERENCE_RETENTION_DAYS",
        "Days predictions are kept in the store; older ones are dropped as ClickHouse "
        "merges. Predictions are about people: set this to your retention policy. "
        "Merges that drop expired rows rebuild the lookups by id and by person, which "
        "costs the worker more memory under load (see Benchmarks). Default 0: kept for ever.",
        non_negative_int,
    ),
    SettingSpec(
        "fault_kill_after_store",
        "LINEAGE_FAULT_KILL_AFTER_STORE",
        "For reliability tests only: the worker kills itself (SIGKILL) right after storing "
        "its Nth batch, before committing that batch's offsets, the moment a crash is "
        "hardest to recover from. Default 0: never.",
        non_negative_int,
    ),
    SettingSpec(
        "kafka_local_secure",
        "LINEAGE_KAFKA_LOCAL_SECURE",
        "1: `lineage up` starts the local broker with SASL/SCRAM over TLS only (a CA, a "
        "keystore and SCRAM users generated into its state folder), and clients use them. "
        "Fixed when the broker's state folder is first created. Default 0.",
        flag,
    ),
    SettingSpec(
        "clickhouse_password",
        "LINEAGE_CLICKHOUSE_PASSWORD",
        "Password for the ClickHouse server user, instead of one in LINEAGE_CLICKHOUSE_URL. "
        "Never shown in logs or messages.",
        secret,
        secret=True,
    ),
    SettingSpec(
        "clickhouse_ca_file",
        "LINEAGE_CLICKHOUSE_CA_FILE",
        "PEM file of the CA that signed an `https://` ClickHouse server's certificate. "
        "Unset: the system's trusted CAs.",
        lambda raw: Path(nonempty(raw)),
    ),
    SettingSpec(
        "clickhouse_verify",
        "LINEAGE_CLICKHOUSE_VERIFY",
        "0: do not verify an `https://` ClickHouse server's certificate (tests only). Default 1.",
        flag,
    ),
    SettingSpec(
        "clickhouse_reader",
        "LINEAGE_CLICKHOUSE_READER",
        "On a ClickHouse server: the read-only user that people's reads (`lineage sql`, the "
        "query commands, the worker's `/sql` and read API) log in as, e.g. `lineage_reader` "
        "of `deploy/compose/clickhouse/users.d`. Unset: reads use the writer's login, "
        "each with `readonly=1` and the LINEAGE_READ_* limits. The embedded store always "
        "reads on sessions of its own, locked read-only with those limits.",
        nonempty,
    ),
    SettingSpec(
        "clickhouse_reader_password",
        "LINEAGE_CLICKHOUSE_READER_PASSWORD",
        "Password of LINEAGE_CLICKHOUSE_READER. Never shown in logs or messages.",
        secret,
        secret=True,
    ),
    SettingSpec(
        "read_max_seconds",
        "LINEAGE_READ_MAX_SECONDS",
        "Longest one read may run before ClickHouse stops it. Default 30.",
        positive_float,
    ),
    SettingSpec(
        "read_max_memory",
        "LINEAGE_READ_MAX_MEMORY",
        "Most memory, in bytes, one read may use; past it ClickHouse stops it. On the "
        "embedded store this memory is the worker's own. Default 1073741824 (1 GiB).",
        positive_int,
    ),
    SettingSpec(
        "read_max_rows",
        "LINEAGE_READ_MAX_ROWS",
        "Most rows a read may answer; a larger result is refused (add LIMIT or narrow the "
        "question). Default 100000.",
        positive_int,
    ),
    SettingSpec(
        "read_max_bytes",
        "LINEAGE_READ_MAX_BYTES",
        "Most bytes a read may answer, uncompressed; a larger result is refused. "
        "Default 67108864 (64 MiB).",
        positive_int,
    ),
    SettingSpec(
        "read_max_threads",
        "LINEAGE_READ_MAX_THREADS",
        "Threads one read may use in ClickHouse. Default 2.",
        positive_int,
    ),
    SettingSpec(
        "read_concurrency",
        "LINEAGE_READ_CONCURRENCY",
        "Reads the worker runs at once, each on a store session and a thread of its own "
        "(never the writer's); more wait their turn. Default 2.",
        positive_int,
    ),
    SettingSpec(
        "write_token",
        "LINEAGE_WRITE_TOKEN",
        "Bearer token that `POST /api/v1/lineage` requires (what an OpenLineage client's "
        "`api_key` sends). Required, with LINEAGE_READ_TOKEN, when the worker binds to an "
        "address other than loopback. Never shown in logs or messages.",
        secret,
        secret=True,
    ),
    SettingSpec(
        "read_token",
        "LINEAGE_READ_TOKEN",
        "Bearer token that `/sql` and every read endpoint require; the CLI sends it. "
        "`/healthz`, `/readyz` and `/metrics` stay open. Never shown in logs or messages.",
        secret,
        secret=True,
    ),
    SettingSpec(
        "allow_unauthenticated",
        "LINEAGE_ALLOW_UNAUTHENTICATED",
        "1: let a worker bound beyond loopback start without tokens (anyone who reaches it "
        "can then write lineage and read everything). Default 0: it refuses to start.",
        flag,
    ),
    SettingSpec(
        "http_body_seconds",
        "LINEAGE_HTTP_BODY_SECONDS",
        "Longest the worker waits for a request's body; a slower one is cut with 408. Default 10.",
        positive_float,
    ),
    SettingSpec(
        "ingest_max_in_flight",
        "LINEAGE_INGEST_MAX_IN_FLIGHT",
        "Most `POST /api/v1/lineage` requests the worker handles at once; more get 503 with "
        "`Retry-After`. Default 256.",
        positive_int,
    ),
    SettingSpec(
        "lag_interval",
        "LINEAGE_LAG_INTERVAL",
        "Seconds between measurements of the consumer group's lag, per partition: log-end "
        "offsets against the group's committed offsets, and the age of the oldest record not "
        "yet committed (`lineage_consumer_lag_records`, `lineage_consumer_lag_seconds`). "
        "Default 5. 0: not measured.",
        non_negative_float,
    ),
    SettingSpec(
        "coverage_interval",
        "LINEAGE_COVERAGE_INTERVAL",
        "Seconds between coverage measurements (`lineage_coverage_*`): a few aggregate queries "
        "on the store, run between batches. Default 60. 0: not measured (run it on one worker "
        "of a group, say, as every worker would report the same figures).",
        non_negative_float,
    ),
    SettingSpec(
        "ready_write_failure_seconds",
        "LINEAGE_READY_WRITE_FAILURE_SECONDS",
        "Seconds the worker's writes to ClickHouse may keep failing (each retried with "
        "backoff, nothing committed meanwhile) before `/readyz` answers 503 naming the "
        "failure, though ClickHouse still answers queries: a full disk, too many parts, a "
        "read-only replica, lost rights. Default 30: a blip of a few retries leaves the "
        "worker ready.",
        positive_float,
    ),
    SettingSpec(
        "log_level",
        "LINEAGE_LOG_LEVEL",
        "DEBUG, INFO, WARNING or ERROR. Default INFO.",
        log_level,
    ),
    SettingSpec(
        "log_max_bytes",
        "LINEAGE_LOG_MAX_BYTES",
        "Size at which the worker's log file (`<state>/worker/worker.log` under `lineage up`, "
        "or `lineage worker --log-file`) is renamed `.1` and a new one begun; what the "
        "process writes outside logging goes there too. Default 52428800 (50 MiB).",
        positive_int,
    ),
    SettingSpec(
        "log_backups",
        "LINEAGE_LOG_BACKUPS",
        "Rotated worker log files kept (`worker.log.1` the newest); older ones are deleted, "
        "so the logs take at most (1 + this) times LINEAGE_LOG_MAX_BYTES. Default 5.",
        positive_int,
    ),
)

WorkerSettings.SPECS = SDK_SETTINGS + WORKER_SETTINGS


def settings_table() -> str:
    """The Markdown table of every setting, the SDK's then the worker's, as the README shows it."""
    lines = ["| Variable | Meaning |", "|---|---|"]
    lines += [f"| `{spec.env}` | {spec.doc} |" for spec in WorkerSettings.SPECS]
    return "\n".join(lines)
