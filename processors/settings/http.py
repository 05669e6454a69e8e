"""The settings of the worker's HTTP port: where it listens, who may write and read through
it, and the limits on what one request may hold."""

from __future__ import annotations

from lineage_collector.setting_spec import (
    SettingSpec,
    flag,
    nonempty,
    port,
    positive_float,
    positive_int,
    secret,
)

SETTINGS: tuple[SettingSpec, ...] = (
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
        "ingest_max_bytes",
        "LINEAGE_INGEST_MAX_BYTES",
        "Largest request body the OpenLineage HTTP endpoint accepts. Default 1048576.",
        positive_int,
    ),
)
