"""Event -> rows is a pure function: exact rows, no broker, no store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collector.catalog import load_catalog
from collector.events import DatasetRef, TrainingRun
from collector.wire import encode
from processors.graph_agent import Record, decode_and_map, dedup_token
from processors.mapping import MappingError, Origin, map_event

WHEN = datetime(2026, 5, 1, tzinfo=UTC)


def training_record(**changes: object) -> dict[str, object]:
    event = TrainingRun(
        "churn",
        "2.0",
        [DatasetRef("crm/accounts", "v3", "train")],
        run_id="r1",
        hyperparameters={"depth": "6"},
    )
    rec: dict[str, object] = {
        "event_id": "e1",
        "event_time": WHEN,
        "producer": "p",
        "namespace": "ns",
        **event.fields(),
    }
    rec.update(changes)
    return rec


def test_training_run_rows() -> None:
    rows = map_event("lineage.events.TrainingRun", training_record(), Origin("t", 1, 42))
    assert rows.nodes == [
        ("model:churn@2.0", "model", "churn", "2.0", "ns", WHEN, "e1"),
        ("run:r1", "run", "r1", "", "ns", WHEN, "e1"),
        ("dataset:crm/accounts@v3", "dataset", "crm/accounts", "v3", "ns", WHEN, "e1"),
    ]
    assert rows.properties == [
        ("run:r1", "hyperparameter.depth", "6", WHEN, "e1"),
        ("run:r1", "status", "COMPLETED", WHEN, "e1"),
    ]
    assert rows.edges == [
        ("run:r1", "model:churn@2.0", "output", "", WHEN, "r1", "e1"),
        ("dataset:crm/accounts@v3", "run:r1", "input", "train", WHEN, "r1", "e1"),
    ]
    [raw] = rows.events_raw
    assert raw[:6] == ("e1", "TrainingRun", WHEN, "p", "ns", "model:churn@2.0")
    assert raw[7:] == ("t", 1, 42)


def test_unmappable_ids_are_mapping_errors() -> None:
    with pytest.raises(MappingError, match="model version 'bad version'"):
        map_event(
            "lineage.events.TrainingRun",
            training_record(model_version="bad version"),
            Origin("t", 0, 0),
        )
    with pytest.raises(MappingError, match=r"no mapping for events of schema x\.Y"):
        map_event("x.Y", {}, Origin("t", 0, 0))


def test_bad_records_are_set_aside_and_neighbours_kept() -> None:
    catalog = load_catalog()
    good = encode(catalog.by_name("lineage.events.TrainingRun"), training_record())
    records = [
        Record("t", 0, 5, b"k", good),
        Record("t", 0, 6, b"k", b"\xc3\x01junk"),
        Record("t", 1, 9, b"k", good[:-4]),
    ]
    batch, rejected = decode_and_map(catalog, records)
    assert len(batch) == 1 and len(batch.edges) == 2
    assert [(r.record.offset, r.stage) for r in rejected] == [(6, "decode"), (9, "decode")]


def test_dedup_token_names_offset_ranges_per_partition() -> None:
    recs = [Record("t", p, o, None, b"") for p, o in [(1, 7), (0, 3), (0, 5), (1, 8), (0, 4)]]
    assert dedup_token(recs) == "t:0:3-5,t:1:7-8"
    assert dedup_token(list(reversed(recs))) == dedup_token(recs)
