"""The store's schema migrations, one module per migration: ``mNNN_<what it does>.py``.

Each module holds one :class:`~lineage_processors.store.migrations.base.Migration` named
``MIGRATION``; its version is the number in the file name, and ``schema_migrations`` records the
version and name of every migration a store has run (``lineage_processors.store.schema``
applies them). Python rather than ``.sql`` files: several migrations build their statements
(the same columns on eight tables, the same rebuild of eight tables), and the shared pieces
live in ``base.py``. Never edit a released migration's statements: add a migration. Each
statement is idempotent (``IF NOT EXISTS``), so a migration cut short by a crash is run again.

Views are not here: each view's current definition is a file of its own in
``lineage_processors.store.views``, created again on every migrate. To retire a view, delete
its file and add a migration that drops it.

To add a migration: a module ``mNNN_<what>.py`` with the next version; it is found by its name.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from lineage_processors.store.migrations.base import Migration

_MODULE = re.compile(r"m(\d{3})_\w+")


def _found() -> tuple[Migration, ...]:
    """Every ``mNNN_*`` module of this package, in version order. The number in each module's
    name is its migration's version, and the versions run from 1 with no gap."""
    named = sorted(
        (int(match.group(1)), module.name)
        for module in pkgutil.iter_modules(__path__)
        if (match := _MODULE.fullmatch(module.name))
    )
    found = []
    for expected, (number, name) in enumerate(named, 1):
        migration: Migration = importlib.import_module(f"{__name__}.{name}").MIGRATION
        if not number == migration.version == expected:
            raise RuntimeError(f"migration module {name} holds version {migration.version}")
        found.append(migration)
    return tuple(found)


MIGRATIONS: tuple[Migration, ...] = _found()

__all__ = ["MIGRATIONS", "Migration"]
