"""The store's settings: where ClickHouse is, who the worker and people's reads are to it,
the limits of a read, and how long predictions are kept."""

from __future__ import annotations

from pathlib import Path

from lineage_collector.setting_spec import (
    SettingSpec,
    flag,
    non_negative_int,
    nonempty,
    positive_float,
    positive_int,
    secret,
)

SETTINGS: tuple[SettingSpec, ...] = (
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
        "inference_retention_days",
        "LINEAGE_INFERENCE_RETENTION_DAYS",
        "Days predictions are kept in the store; older ones are dropped as ClickHouse "
        "merges. Predictions are about people: set this to your retention policy. "
        "Merges that drop expired rows rebuild the lookups by id and by person, which "
        "costs the worker more memory under load (see Benchmarks). Default 0: kept for ever.",
        non_negative_int,
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
)
