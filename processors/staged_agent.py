"""The graph processor with ClickHouse doing the decoding and mapping
(:mod:`processors.staged`); any batch that cannot go that way goes the Python way."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from processors.errors import StoreError
from processors.graph_agent import GraphProcessor, Mapped, Record, partition_bounds
from processors.mapping import RowBatch
from processors.metrics import BatchReport
from processors.staged import GraphStage, StagedBatch

log = logging.getLogger(__name__)


@dataclass
class StagedMapped:
    """A batch made ready: staged for ClickHouse, or (``staged`` None) mapped in Python."""

    records: Sequence[Record]
    staged: StagedBatch | None
    rest: Mapped


def staged_report(topic: str, staged: StagedBatch) -> BatchReport:
    """The metrics of a staged batch: its events by kind, all written once stored."""
    consumed = {kind: len(datums) for kind, datums in staged.datums.items()}
    return BatchReport(
        topic,
        len(staged.records),
        len(staged.records),
        consumed=consumed,
        oldest_event_ms=staged.oldest_ms,
    )


class StagedGraphProcessor(GraphProcessor):
    """A :class:`GraphProcessor` whose batches of our current graph events skip Python."""

    def __init__(self, stage: GraphStage, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.stage = stage
        self.fallbacks = 0  # staged batches that went the Python way after all

    def prepare(self, records: Sequence[Record]) -> StagedMapped:  # type: ignore[override]
        staged = self.stage.split(records)
        if staged is None:
            return StagedMapped(records, None, super().prepare(records))
        report = staged_report(records[0].topic, staged) if self.metrics is not None else None
        return StagedMapped(
            records, staged, Mapped(RowBatch(), [], *partition_bounds(records), report)
        )

    async def store(self, mapped: StagedMapped) -> None:  # type: ignore[override]
        staged, rest = mapped.staged, mapped.rest
        if staged is not None:
            clear = await self._until_stored(self.recovery.clear, self.sink.store, rest.firsts)
            started = time.perf_counter()
            if clear and await self._staged_insert(staged):
                if rest.report is not None:
                    rest.report.write_seconds = time.perf_counter() - started
                    rest.report.written = rest.report.consumed
                if self.on_stored is not None:
                    await self._until_stored(self.on_stored, rest.firsts, rest.lasts)
                self.recovery.advance(rest.lasts)
                self.written += len(staged.records)
                return
            # The store must be asked what it holds of these partitions first, an event
            # would be refused, or ClickHouse refused the batch: map it in Python, which
            # leaves out what is stored and dead-letters what is bad.
            loop = asyncio.get_running_loop()
            mapped.rest = await loop.run_in_executor(
                None, GraphProcessor.prepare, self, mapped.records
            )
        await super().store(mapped.rest)

    def committed(self, mapped: StagedMapped) -> None:  # type: ignore[override]
        super().committed(mapped.rest)

    async def _staged_insert(self, staged: StagedBatch) -> bool:
        try:
            if await self._on_store_thread(self.stage.store, self.sink.store, staged):
                return True
            self.fallbacks += 1
            return False
        except StoreError as exc:
            # A store that is down (the Python path then retries it with backoff), or bytes
            # ClickHouse cannot read. Part of the batch may be in: have recovery ask first.
            self.fallbacks += 1
            log.warning("graph events not mapped by the store, mapping them instead: %s", exc)
            self.recovery.forget(sorted({(r.topic, r.partition) for r in staged.records}))
            return False
