"""The settings of the worker, the store and the command line, beside the SDK's own.

:class:`WorkerSettings` extends the SDK's :class:`~lineage_collector.config.Settings` (Kafka,
topics, registry, spool) with what only the worker side reads. Both are read from the same
``LINEAGE_*`` variables, parsed and checked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from lineage_collector.config import Settings


@dataclass(frozen=True, repr=False)
class WorkerSettings(Settings):
    """Resolved configuration of the worker side. Build it with :meth:`from_env`."""
