"""The ClickHouse store: the connection, the only code that writes, migrations, and the read
sessions people query through, with their limits."""

from lineage_processors.store.connect import (
    ServerAccess,
    Store,
    open_configured,
    open_store,
    read_owner,
    redact,
)
from lineage_processors.store.migrations import MIGRATIONS, apply_retention, migrate

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
