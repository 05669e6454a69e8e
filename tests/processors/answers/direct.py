"""Lineage events written straight into a store, as a worker would store them, without Kafka.

Each event is encoded as the SDK encodes it, decoded and mapped by the worker's reference
path, written through the store's sink with a Kafka origin of its own (one offset per event),
and the derived state (attribution, closures, tag impacts) is brought up to date as the
worker's derive loop does. For fast tests of the answers on small pipelines; the ``stored``
fixture of this package goes through real Kafka and a real worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from lineage_collector.catalog import load_catalog
from lineage_collector.events import SourceExtraction
from lineage_collector.wire import encode
from lineage_processors.derive.attribution import Attribution
from lineage_processors.derive.closures import extend_closures
from lineage_processors.derive.state import Derivation
from lineage_processors.derive.tag_impacts import propagate_tags
from lineage_processors.ingest.processor import Record
from lineage_processors.ingest.reference.path import decode_and_map
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import ClickHouseSink

CATALOG = load_catalog()
TOPICS = {"events": "lineage.events", "inferences": "lineage.inferences"}


class DirectWriter:
    """Writes events into ``store`` in the order given, each as the next Kafka offset."""

    def __init__(self, store: Store, namespace: str = "test") -> None:
        self.store = store
        self.namespace = namespace
        self.sink = ClickHouseSink(store)
        self.offsets = dict.fromkeys(TOPICS.values(), 0)
        self.derivation = Derivation(
            store,
            [Attribution(store).after_write, _closures(store), _tags(store)],
            topics=list(TOPICS.values()),
        )

    def record(self, event: Any, when: datetime, event_id: str | None = None) -> Record:
        """The Kafka record the SDK would send for ``event`` at ``when``."""
        fields = event.fields()
        if isinstance(event, SourceExtraction) and fields["extraction_time"] is None:
            fields["extraction_time"] = when
        body = {
            "event_id": event_id or str(uuid.uuid4()),
            "event_time": when,
            "producer": "direct-writer",
            "namespace": self.namespace,
            **fields,
        }
        topic = TOPICS[event.TOPIC]
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        value = encode(CATALOG.by_name(event.SCHEMA), body)
        return Record(topic, 0, offset, event.key().encode(), value)

    def write(self, events: Iterable[tuple[Any, datetime]]) -> None:
        """Store ``(event, event_time)`` pairs, then derive from them; every event must map."""
        records = [self.record(event, when) for event, when in events]
        batch, rejected = decode_and_map(CATALOG, records)
        assert not rejected, [str(r.error) for r in rejected]
        self.sink.write(batch)
        firsts: dict[tuple[str, int], int] = {}
        lasts: dict[tuple[str, int], int] = {}
        for r in records:
            tp = (r.topic, r.partition)
            firsts[tp] = min(firsts.get(tp, r.offset), r.offset)
            lasts[tp] = max(lasts.get(tp, r.offset), r.offset)
        # Predictions are attributed from the dictionaries: loaded now, not on their timer.
        for name in ("deployment_models", "model_training_dict"):
            self.store.command(f"SYSTEM RELOAD DICTIONARY {name}")
        self.derivation.stored(firsts, lasts)
        while self.derivation.run():
            pass


def _closures(store: Store) -> Any:
    return lambda ranges: extend_closures(store, ranges)


def _tags(store: Store) -> Any:
    return lambda ranges: propagate_tags(store, ranges)
