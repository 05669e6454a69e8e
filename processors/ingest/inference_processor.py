"""The inference processor: batches of InferenceBatch records, their predictions decoded by
ClickHouse (:mod:`lineage_processors.ingest.fast.inference`), anything else the graph processor's
way."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from lineage_processors.ingest.fast.inference import FastBatch, InferenceAvro
from lineage_processors.ingest.processor import GraphProcessor, Mapped, Record, partition_bounds
from lineage_processors.ingest.reference.mapping import RowBatch
from lineage_processors.ops.metrics import INFERENCE_KIND, BatchReport


@dataclass
class InferenceMapped:
    """A batch split: records ClickHouse decodes, and the rest mapped in Python."""

    records: Sequence[Record]
    fast: FastBatch
    rest: Mapped


def with_fast(report: BatchReport, records: int, fast: FastBatch) -> BatchReport:
    """``report`` of the Python part, counting the predictions ClickHouse decodes too."""
    report.records = records
    report.events += fast.predictions
    if fast.predictions:
        report.consumed[INFERENCE_KIND] = report.consumed.get(INFERENCE_KIND, 0) + fast.predictions
    if fast.oldest_ms is not None and (
        report.oldest_event_ms is None or fast.oldest_ms < report.oldest_event_ms
    ):
        report.oldest_event_ms = fast.oldest_ms
    return report


class InferenceProcessor(GraphProcessor):
    """A :class:`GraphProcessor` whose current-schema InferenceBatch records skip Python."""

    def __init__(self, avro: InferenceAvro, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.avro = avro

    def prepare(self, records: Sequence[Record]) -> InferenceMapped:  # type: ignore[override]
        fast, rest = self.avro.split(records)
        if rest:
            mapped = super().prepare(rest)
        else:
            report = BatchReport(records[0].topic, 0, 0) if self.metrics is not None else None
            mapped = Mapped(RowBatch(), [], {}, {}, report)
        # Bounds of the whole batch: recovery and commits follow every record read.
        mapped.firsts, mapped.lasts = partition_bounds(records)
        if mapped.report is not None:
            with_fast(mapped.report, len(records), fast)
        return InferenceMapped(records, fast, mapped)

    async def store(self, mapped: InferenceMapped) -> None:  # type: ignore[override]
        fast = mapped.fast
        if fast.records:
            clear = await self._until_stored(
                self.recovery.clear, self.sink.store, mapped.rest.firsts
            )
            if clear and await self._fast_insert(fast):
                self.written += fast.predictions
            else:
                # The store must be asked what it holds of these partitions first, or
                # ClickHouse refused the records: the whole batch the Python way, which
                # leaves out what is stored and dead-letters what is bad.
                loop = asyncio.get_running_loop()
                mapped.rest = await loop.run_in_executor(
                    None, GraphProcessor.prepare, self, mapped.records
                )
                fast = FastBatch([], [], 0)
        await super().store(mapped.rest)
        report = mapped.rest.report
        if report is not None and fast.predictions and report.written is not report.consumed:
            # The Python part was stored in part (recovery): add what ClickHouse decoded.
            report.written[INFERENCE_KIND] = (
                report.written.get(INFERENCE_KIND, 0) + fast.predictions
            )

    def committed(self, mapped: InferenceMapped) -> None:  # type: ignore[override]
        super().committed(mapped.rest)

    async def _fast_insert(self, fast: FastBatch) -> bool:
        insert = functools.partial(self.avro.insert, self.sink.store, fast)
        return await self._decoded_by_store(insert, fast.records, "predictions")
