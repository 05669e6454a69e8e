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
from lineage_processors.settings import http, local, processing, store


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


# The table and the README list them by concept: the SDK's first, then the worker side's.
WorkerSettings.SPECS = (
    SDK_SETTINGS + processing.SETTINGS + http.SETTINGS + store.SETTINGS + local.SETTINGS
)


def settings_table() -> str:
    """The Markdown table of every setting, the SDK's then the worker's, as the README shows it."""
    lines = ["| Variable | Meaning |", "|---|---|"]
    lines += [f"| `{spec.env}` | {spec.doc} |" for spec in WorkerSettings.SPECS]
    return "\n".join(lines)
