"""The worker's log: each kind of complaint once a minute, and a file that rotates by size.

The handler every record reaches carries :class:`~lineage_collector.log_hygiene.RepeatFilter`, so
aiokafka retrying a dead broker (``Unable connect to node``, ``Unable to update
metadata``, each several times a second per client) writes a line a minute with a count,
not thousands. Given a file (``lineage worker --log-file``, as ``lineage up`` starts it),
the worker writes it itself and rotates it by size (LINEAGE_LOG_MAX_BYTES,
LINEAGE_LOG_BACKUPS). The file also takes the process's standard output and error, which
the starting command points at it: what bypasses logging (librdkafka clients without a
logger, a crash's traceback) lands in the current file and rotates with it, instead of
growing a file the worker has no say over.
"""

from __future__ import annotations

import logging.handlers
import os
from pathlib import Path
from typing import Any

from mode.utils.logging import create_logconfig

from lineage_collector.log_hygiene import RepeatFilter

STD_STREAMS = (1, 2)


class RotatingLog(logging.handlers.RotatingFileHandler):
    """A log file rotated at ``max_bytes``, keeping ``backups`` older files
    (``worker.log.1`` the newest). With ``own_std_streams`` the process's file descriptors
    1 and 2 follow the current file; its size counts what they wrote, as the size check
    measures the file itself."""

    def __init__(
        self, filename: str, max_bytes: int, backups: int, own_std_streams: bool = False
    ) -> None:
        self.own_std_streams = own_std_streams  # read by _open, which the base calls
        super().__init__(filename, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")

    def _open(self) -> Any:
        stream = super()._open()
        if self.own_std_streams:
            for fd in STD_STREAMS:
                os.dup2(stream.fileno(), fd)
        return stream


def logging_config(
    level: str,
    log_file: Path | None = None,
    *,
    max_bytes: int = 50 << 20,
    backups: int = 5,
    own_std_streams: bool = True,
    repeats: RepeatFilter | None = None,
) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` the worker runs with: mode's own (its formats,
    the root logger at ``level``) with repeats collapsed, on stderr or in ``log_file``."""
    handler: dict[str, Any]
    if log_file is None:
        handler = {"class": "colorlog.StreamHandler", "formatter": "colored"}
    else:
        handler = {
            "()": RotatingLog,
            "filename": str(log_file),
            "max_bytes": max_bytes,
            "backups": backups,
            "own_std_streams": own_std_streams,
            "formatter": "default",
        }
    handler.update(level=level, filters=["repeats"])
    config: dict[str, Any] = create_logconfig(
        handlers={"default": handler}, root={"level": level, "handlers": ["default"]}
    )
    collapse = repeats or RepeatFilter()
    config["filters"] = {"repeats": {"()": lambda: collapse}}
    return config
