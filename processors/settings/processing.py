"""The settings of the processing: the topics and group read, batches, derived state, the
timers that measure lag and coverage, readiness, and the worker's log."""

from __future__ import annotations

from lineage_collector.setting_spec import (
    SettingSpec,
    log_level,
    non_negative_float,
    non_negative_int,
    nonempty,
    positive_float,
    positive_int,
)

SETTINGS: tuple[SettingSpec, ...] = (
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
        "fault_kill_after_store",
        "LINEAGE_FAULT_KILL_AFTER_STORE",
        "For reliability tests only: the worker kills itself (SIGKILL) right after storing "
        "its Nth batch, before committing that batch's offsets, the moment a crash is "
        "hardest to recover from. Default 0: never.",
        non_negative_int,
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
