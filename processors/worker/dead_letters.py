"""The dead-letter topic: where records that cannot be stored go, with why, for someone to replay.

A rejected record is written to ``LINEAGE_TOPIC_DLQ`` as it was read (key and value untouched)
with headers naming where it came from and what refused it. Its batch's offsets are committed
only once Kafka has it: a DLQ that refuses raises :class:`DeadLetterError`, and the worker
stops rather than lose the record.
"""

from __future__ import annotations

import faust

from lineage_processors.errors import ProcessorError
from lineage_processors.ingest.processor import Rejected


class DeadLetterError(ProcessorError):
    """The dead-letter topic did not take a record."""


def dlq_headers(bad: Rejected) -> list[tuple[str, bytes]]:
    """Headers that let someone find and replay a dead letter: where it came from and why."""
    error = str(bad.error)[:1000]
    return [
        ("lineage.original.topic", bad.record.topic.encode()),
        ("lineage.original.partition", str(bad.record.partition).encode()),
        ("lineage.original.offset", str(bad.record.offset).encode()),
        ("lineage.stage", bad.stage.encode()),
        ("lineage.exception.class", type(bad.error).__name__.encode()),
        ("lineage.exception.message", error.encode("utf-8", "replace")),
    ]


class DeadLetterTopic:
    """Sends rejected records to ``topic`` through ``app``'s producer, and waits until Kafka
    has each; a ``DeadLetterWriter``."""

    def __init__(self, app: faust.App, topic: str) -> None:
        self.app = app  # its producer is there once the app started
        self.topic = topic

    async def __call__(self, bad: Rejected) -> None:
        r = bad.record
        try:
            await self.app.producer.send_and_wait(
                self.topic, r.key, r.value, None, None, dlq_headers(bad)
            )
        except Exception as exc:
            raise DeadLetterError(
                f"the dead-letter topic {self.topic} refused {r.topic}:{r.partition}@"
                f"{r.offset} ({type(exc).__name__}: {exc}); nothing from that batch on is "
                "committed. Fix the topic (size limit, ACLs, existence) and restart the worker"
            ) from exc
