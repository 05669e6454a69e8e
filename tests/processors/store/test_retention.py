"""Prediction retention against a real chDB store."""

from __future__ import annotations

import time

from lineage_processors.ingest.reference.events import map_event
from lineage_processors.ingest.reference.mapping import Origin, RowBatch
from lineage_processors.store import apply_retention
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import ClickHouseSink

DAY_MS = 86_400_000


def predictions_aged(days: list[int]) -> RowBatch:
    now = int(time.time() * 1000)
    record = {
        "event_id": "b1",
        "event_time": now,
        "producer": "p",
        "namespace": "ns",
        "model": "churn",
        "model_version": "2.0",
        "deployment": None,
        "inferences": [
            {
                "inference_id": f"p{age}",
                "event_time": now - age * DAY_MS,
                "inputs": [],
                "output": "yes",
                "subject": None,
            }
            for age in days
        ],
    }
    batch = RowBatch()
    origin = Origin("inferences", 0, 0)
    batch.extend(map_event("lineage.events.InferenceBatch", record, origin), origin)
    return batch


def ids(store: Store) -> list[str]:
    rows = store.query("SELECT inference_id FROM inferences ORDER BY inference_id").result_rows
    return [r[0] for r in rows]


def test_predictions_older_than_the_retention_are_dropped(store: Store) -> None:
    apply_retention(store, 30)
    ClickHouseSink(store).write(predictions_aged([1, 29, 31, 400]))
    store.command("OPTIMIZE TABLE inferences FINAL")  # TTL is applied as parts merge
    assert ids(store) == ["p1", "p29"]


def test_no_retention_keeps_everything_and_can_be_set_back(store: Store) -> None:
    apply_retention(store, 30)
    apply_retention(store, 0)
    ClickHouseSink(store).write(predictions_aged([1, 400]))
    store.command("OPTIMIZE TABLE inferences FINAL")
    assert ids(store) == ["p1", "p400"]
