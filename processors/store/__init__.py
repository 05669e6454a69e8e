"""The ClickHouse store: the connection, the only code that writes, the schema (migrations and
views), and the read sessions people query through, with their limits."""

from lineage_processors.store.connect import (
    ServerAccess,
    Store,
    open_configured,
    open_store,
    redact,
)
from lineage_processors.store.migrations import MIGRATIONS
from lineage_processors.store.owner import read_owner
from lineage_processors.store.retention import apply_retention
from lineage_processors.store.schema import migrate

__all__ = [
    "MIGRATIONS",
    "ServerAccess",
    "Store",
    "apply_retention",
    "migrate",
    "open_configured",
    "open_store",
    "read_owner",
    "redact",
]
