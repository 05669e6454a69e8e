"""The graph processor with ClickHouse doing the decoding and mapping
(:mod:`lineage_processors.ingest.fast.staged`); any batch that cannot go that way goes the Python
way."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lineage_processors.ingest.fast.staged import GraphStage, StagedBatch
from lineage_processors.ingest.processor import GraphProcessor, Mapped, Record, partition_bounds
from lineage_processors.ingest.reference.mapping import RowBatch
from lineage_processors.ops.metrics import BatchReport


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
        insert = functools.partial(self.stage.store, self.sink.store, staged)
        return await self._decoded_by_store(insert, staged.records, "graph events")
