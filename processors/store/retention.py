"""How long the store keeps predictions: a setting of each deployment, not a migration."""

from __future__ import annotations

from lineage_processors.store.connect import Store


def apply_retention(store: Store, days: int) -> None:
    """Keep predictions ``days`` days (0: for ever), as ``LINEAGE_INFERENCE_RETENTION_DAYS``.

    A setting rather than a migration: how long predictions about people may be kept is a
    policy each deployment sets, and may change. ClickHouse drops expired rows as it
    merges; whole monthly partitions past the limit go at once. Merges that drop expired
    rows must drop them from the projections too, so they rebuild them (see migration 14);
    without a retention, merges keep the projections as they are.
    """
    mode = "rebuild" if days > 0 else "ignore"
    store.command(
        f"ALTER TABLE inferences MODIFY SETTING deduplicate_merge_projection_mode = '{mode}'"
    )
    if days > 0:
        store.command(
            f"ALTER TABLE inferences MODIFY TTL toDateTime(event_time) + INTERVAL {int(days)} DAY"
        )
    else:
        ttl = store.query(
            "SELECT engine_full FROM system.tables "
            "WHERE database = currentDatabase() AND name = 'inferences'"
        ).result_rows
        if ttl and " TTL " in str(ttl[0][0]):
            store.command("ALTER TABLE inferences REMOVE TTL")
