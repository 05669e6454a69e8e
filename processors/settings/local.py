"""The settings of the local stack of ``lineage up``: where the Kafka jars are kept, how
many brokers run, how long they may take to start, and whether they start secured."""

from __future__ import annotations

from pathlib import Path

from lineage_collector.setting_spec import SettingSpec, broker_count, flag, nonempty, positive_float

SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "cache_dir",
        "LINEAGE_CACHE_DIR",
        "Where the Kafka jars are downloaded once. Default `~/.cache/lineage-collector`.",
        lambda raw: Path(nonempty(raw)),
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
        "kafka_local_secure",
        "LINEAGE_KAFKA_LOCAL_SECURE",
        "1: `lineage up` starts the local broker with SASL/SCRAM over TLS only (a CA, a "
        "keystore and SCRAM users generated into its state folder), and clients use them. "
        "Fixed when the broker's state folder is first created. Default 0.",
        flag,
    ),
)
