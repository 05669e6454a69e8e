"""Consumer lag of the worker group, measured from Kafka alone, independently of the consumers.

Per partition: the log-end offset against the group's committed offset gives the records not
yet processed; the Kafka timestamp of the record at the committed offset, the oldest not yet
processed, gives how far behind in time the group is. A worker that is stuck, or gone,
cannot under-report its own lag this way: the broker's offsets say it.

Every worker of a group measures the whole group, so Prometheus sees the same series from
each; alerts take the ``max`` over workers.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from lineage_processors.errors import ProcessorError

log = logging.getLogger(__name__)

LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]

Partition = tuple[str, int]


class LagError(ProcessorError):
    """Kafka did not answer the questions lag is measured with."""


@dataclass(frozen=True)
class PartitionLag:
    """How far the group is behind on one partition."""

    topic: str
    partition: int
    records: int
    seconds: float


def position(committed: int, start: int) -> int:
    """Where the group reads next: its committed offset, or the log start when it has none
    (it starts from the earliest record) or retention deleted past it."""
    return committed if committed >= start else start


def partition_lag(
    tp: Partition, end: int, start: int, committed: int, oldest_ms: int | None, now: float
) -> PartitionLag:
    """Lag of one partition from its offsets and the timestamp of its oldest unread record."""
    records = max(0, end - position(committed, start))
    if not records:
        seconds = 0.0
    elif oldest_ms is None:
        seconds = math.nan  # the record could not be read in time: unknown, not zero
    else:
        seconds = max(0.0, now - oldest_ms / 1000)
    return PartitionLag(tp[0], tp[1], records, seconds)


class LagMonitor:
    """Measures the lag of ``group`` on ``topics``; blocking, so run it off the event loop.

    ``client_config`` adds librdkafka settings (security) to both clients.
    """

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topics: Sequence[str],
        client_config: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.group = group
        self.topics = list(topics)
        self.timeout = timeout
        self.base = {"bootstrap.servers": bootstrap, **(client_config or {})}
        self.admin, self.reader = self._clients()
        # Timestamp of the record at an offset never changes: look each one up once.
        self._timestamps: dict[tuple[str, int, int], int | None] = {}

    def _clients(self) -> tuple[AdminClient, Consumer]:
        admin = AdminClient(self.base)
        # Reads single records by offset, never joins a group nor commits. Small fetches:
        # one record per partition is wanted, not the prefetch a consumer normally keeps.
        reader = Consumer(
            {
                **self.base,
                "group.id": f"{self.group}.lag-probe",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "queued.min.messages": 1,
                "fetch.max.bytes": 1 << 20,
                "max.partition.fetch.bytes": 64 << 10,
            }
        )
        return admin, reader

    def close(self) -> None:
        self.reader.close()

    def measure(self, now: float | None = None) -> list[PartitionLag]:
        """Lag of every partition of the topics that exist. Raises LagError, whatever
        Kafka does: an error of the client's, or an answer that did not come in time."""
        try:
            return self._measure(now)
        # A future's result() raises TimeoutError when Kafka does not answer in time (the
        # builtin: concurrent.futures.TimeoutError is the same class since Python 3.11).
        except (KafkaException, TimeoutError) as exc:
            self._renew()
            why = str(exc) or type(exc).__name__
            raise LagError(f"lag of group {self.group} not measured: {why}") from exc

    def _renew(self) -> None:
        """New clients for the next measurement. An admin client whose broker was killed
        and restarted timed out on every group-offsets request for minutes after the
        broker was back, where a new one was answered at once."""
        try:
            self.reader.close()
        except (KafkaException, RuntimeError) as exc:  # closed already, or the broker gone
            log.debug("lag reader not closed cleanly: %s", exc)
        self.admin, self.reader = self._clients()

    def _measure(self, now: float | None) -> list[PartitionLag]:
        partitions = self._partitions()
        if not partitions:
            return []
        ends = self._offsets(partitions, LATEST)
        starts = self._offsets(partitions, EARLIEST)
        committed = self._committed(partitions)
        behind = {
            tp: position(committed.get(tp, OFFSET_INVALID), starts[tp])
            for tp in partitions
            if ends[tp] > position(committed.get(tp, OFFSET_INVALID), starts[tp])
        }
        oldest = self._oldest_timestamps(behind)
        at = time.time() if now is None else now
        return [
            partition_lag(
                tp, ends[tp], starts[tp], committed.get(tp, OFFSET_INVALID), oldest.get(tp), at
            )
            for tp in partitions
        ]

    def _partitions(self) -> list[Partition]:
        meta = self.admin.list_topics(timeout=self.timeout)
        found = []
        for topic in self.topics:
            t = meta.topics.get(topic)
            if t is None or t.error is not None:
                continue  # not created yet: nothing to be behind on
            found += [(topic, p) for p in sorted(t.partitions)]
        return found

    def _offsets(self, partitions: Iterable[Partition], spec: OffsetSpec) -> dict[Partition, int]:
        futures = self.admin.list_offsets(
            {TopicPartition(t, p): spec for t, p in partitions}, request_timeout=self.timeout
        )
        return {
            (tp.topic, tp.partition): int(f.result(self.timeout).offset)
            for tp, f in futures.items()
        }

    def _committed(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        request = ConsumerGroupTopicPartitions(
            self.group, [TopicPartition(t, p) for t, p in partitions]
        )
        [future] = self.admin.list_consumer_group_offsets(
            [request], request_timeout=self.timeout
        ).values()
        result = future.result(self.timeout)
        return {(tp.topic, tp.partition): int(tp.offset) for tp in result.topic_partitions}

    def _oldest_timestamps(self, behind: Mapping[Partition, int]) -> dict[Partition, int | None]:
        """Kafka timestamp (ms) of the record at each given offset."""
        found: dict[Partition, int | None] = {}
        wanted: dict[Partition, int] = {}
        for tp, offset in behind.items():
            key = (tp[0], tp[1], offset)
            if key in self._timestamps:
                found[tp] = self._timestamps[key]
            else:
                wanted[tp] = offset
        if wanted:
            found.update(self._read_timestamps(wanted))
        # Keep only the offsets still current, so the cache stays as small as the topics; a
        # record not read this time is looked for again next time.
        self._timestamps = {
            (t, p, o): found[(t, p)] for (t, p), o in behind.items() if (t, p) in found
        }
        return found

    def _read_timestamps(self, wanted: Mapping[Partition, int]) -> dict[Partition, int | None]:
        found: dict[Partition, int | None] = {}
        self.reader.assign([TopicPartition(t, p, o) for (t, p), o in wanted.items()])
        deadline = time.monotonic() + self.timeout
        try:
            while len(found) < len(wanted) and (left := deadline - time.monotonic()) > 0:
                for msg in self.reader.consume(num_messages=len(wanted), timeout=left):
                    if msg.error() is not None:
                        continue
                    tp = (str(msg.topic()), int(msg.partition() or 0))
                    if tp in wanted and tp not in found:
                        kind, stamp = msg.timestamp()
                        found[tp] = None if kind == TIMESTAMP_NOT_AVAILABLE else int(stamp)
        finally:
            self.reader.unassign()
        if len(found) < len(wanted):
            log.debug("no record read at %s within %.0fs", set(wanted) - set(found), self.timeout)
        return found
