"""The fast paths: what ClickHouse decodes and maps of a batch, as the processor takes it.

Each is a :class:`~lineage_processors.ingest.processor.FastPath` over one of the ClickHouse
decoders beside this module, and tells the processor what it took of a batch: the records,
their events by kind for the metrics, and the insert to run on the store thread. Whatever it
leaves, or cannot finish, goes the reference path (:mod:`lineage_processors.ingest.reference`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from lineage_processors.ingest.fast.inference import InferenceAvro
from lineage_processors.ingest.fast.staged import GraphStage
from lineage_processors.ingest.processor import FastPart, Record
from lineage_processors.ops.metrics import INFERENCE_KIND


class FastGraphPath:
    """Batches of our current graph events, mapped by SQL (:mod:`.staged`): whole batches
    only, so a batch holding anything else goes the reference path whole."""

    def __init__(self, stage: GraphStage) -> None:
        self.stage = stage

    def take(self, records: Sequence[Record]) -> tuple[FastPart, Sequence[Record]] | None:
        staged = self.stage.split(records)
        if staged is None:
            return None
        part = FastPart(
            "graph events",
            staged.records,
            len(staged.records),
            {kind: len(datums) for kind, datums in staged.datums.items()},
            staged.oldest_ms,
            functools.partial(self.stage.store, staged=staged),
        )
        return part, []


class FastInferencePath:
    """Predictions of current-schema InferenceBatch records, decoded by ClickHouse
    (:mod:`.inference`); the batch's other records go the reference path."""

    def __init__(self, avro: InferenceAvro) -> None:
        self.avro = avro

    def take(self, records: Sequence[Record]) -> tuple[FastPart, Sequence[Record]] | None:
        fast, rest = self.avro.split(records)
        if not fast.records:
            return None
        part = FastPart(
            "predictions",
            fast.records,
            fast.predictions,
            {INFERENCE_KIND: fast.predictions} if fast.predictions else {},
            fast.oldest_ms,
            functools.partial(self.avro.insert, fast=fast),
        )
        return part, rest
