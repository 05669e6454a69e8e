"""The ClickHouse store: connection, migrations."""

from processors.store.connect import Store, open_store, read_owner, redact
from processors.store.migrations import MIGRATIONS, apply_retention, migrate

__all__ = [
    "MIGRATIONS",
    "Store",
    "apply_retention",
    "migrate",
    "open_store",
    "read_owner",
    "redact",
]
