"""Exact rows for every event kind: the mapping is pure, so no broker or store is needed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lineage_collector.events import (
    DatasetRef,
    DatasetVersion,
    Deployment,
    Inference,
    InputRef,
    SourceExtraction,
    SubjectLinks,
    Tag,
    TransformationRun,
)
from lineage_processors.ingest.reference.events import map_event
from lineage_processors.ingest.reference.mapping import MappingError, Origin, RowBatch
from tests.processors.ingest.reference.test_mapping import WHEN, training_record

T = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 6, 2, tzinfo=UTC)
ORIGIN = Origin("lineage.events", 0, 7)


def rows(event: Any, **envelope: Any) -> RowBatch:
    record = {
        "event_id": "e1",
        "event_time": T,
        "producer": "p",
        "namespace": "ns",
        **event.fields(),
        **envelope,
    }
    return map_event(event.SCHEMA, record, ORIGIN)


def test_source_extraction() -> None:
    b = rows(
        SourceExtraction(
            "crm/export",
            "salesforce",
            "sf://acct",
            120,
            DatasetRef("raw/accounts", "v1"),
            extraction_time=T,
            schema_fingerprint="abc",
        )
    )
    assert b.edges == [
        ("source:crm/export", "dataset:raw/accounts@v1", "extracted", "", T, "", "e1")
    ]
    assert [n[:4] for n in b.nodes] == [
        ("source:crm/export", "source", "crm/export", ""),
        ("dataset:raw/accounts@v1", "dataset", "raw/accounts", "v1"),
    ]
    assert b.properties == [
        ("source:crm/export", "schema_fingerprint", "abc", T, "e1"),
        ("source:crm/export", "source_system", "salesforce", T, "e1"),
        ("source:crm/export", "uri", "sf://acct", T, "e1"),
        ("dataset:raw/accounts@v1", "extracted_records", "120", T, "e1"),
        ("dataset:raw/accounts@v1", "extraction_time", "2026-06-01T09:00:00+00:00", T, "e1"),
    ]
    assert len(b) == 1 and b.events_raw[0][5] == "source:crm/export"


def test_transformation_run_with_labelling_and_masking() -> None:
    b = rows(
        TransformationRun(
            "label/intents",
            kind="LABEL",
            inputs=[DatasetRef("raw/tickets", "v3")],
            outputs=[DatasetRef("labelled/tickets", "v3", "train")],
            parameters={"votes": 3},
            code_version="git:1",
            run_id="r9",
            status="FAILED",
            error_message="vendor timeout",
            annotator="acme-labelling",
            guideline_version="g2",
            masking=True,
        )
    )
    assert b.edges == [
        ("job:label/intents", "run:r9", "job", "", T, "r9", "e1"),
        ("dataset:raw/tickets@v3", "run:r9", "input", "", T, "r9", "e1"),
        ("run:r9", "dataset:labelled/tickets@v3", "output", "train", T, "r9", "e1"),
    ]
    assert {p[1]: p[2] for p in b.properties} == {
        "annotator": "acme-labelling",
        "code_version": "git:1",
        "error_message": "vendor timeout",
        "guideline_version": "g2",
        "job": "job:label/intents",
        "kind": "LABEL",
        "masking": "true",
        "param.votes": "3",
        "status": "FAILED",
    }


# A dataset version with every optional field; test_staged maps it too.
CUSTOMERS_V12 = DatasetVersion(
    "warehouse/customers",
    "v12",
    "sha256:ff",
    1000,
    schema="[]",
    storage_uri="s3://b/k",
    splits={"train": 800, "test": 200},
)


def test_dataset_version_with_splits() -> None:
    b = rows(CUSTOMERS_V12)
    assert b.edges == []
    assert {p[1]: p[2] for p in b.properties} == {
        "content_hash": "sha256:ff",
        "row_count": "1000",
        "schema": "[]",
        "storage_uri": "s3://b/k",
        "split.test.row_count": "200",
        "split.train.row_count": "800",
    }


def test_subject_links_carry_only_pseudonyms() -> None:
    b = rows(SubjectLinks("dataset:crm/accounts@v3", "k1", ["aa", "bb"]))
    assert b.subject_links == [
        ("aa", "k1", "dataset:crm/accounts@v3", T, "e1"),
        ("bb", "k1", "dataset:crm/accounts@v3", T, "e1"),
    ]


def test_deployment() -> None:
    b = rows(Deployment("prod/intent-api", "prod", "intent", "3.4.2", T, T2))
    assert b.edges == [
        ("model:intent@3.4.2", "deployment:prod/intent-api", "deployed", "", T, "", "e1")
    ]
    assert b.deployments == [
        ("deployment:prod/intent-api", "model:intent@3.4.2", "prod", T, T2, T, "e1")
    ]


def test_inference_and_batch() -> None:
    inf = Inference(
        "p-1",
        model="intent",
        model_version="3.4.2",
        inputs=[InputRef("chunk", "c9", "dataset:kb/chunks@v2")],
        output="billing",
        subject="5ub",
    )
    b = rows(inf)
    assert b.inferences == [
        (
            "p-1",
            "model:intent@3.4.2",
            "",
            T,
            "5ub",
            ["chunk:c9"],
            ["dataset:kb/chunks@v2"],
            "billing",
            "e1",
        )
    ]
    assert b.events_raw == [] and len(b) == 1
    batch = map_event(
        "lineage.events.InferenceBatch",
        {
            "event_id": "b",
            "event_time": T,
            "producer": "p",
            "namespace": "ns",
            "model": None,
            "model_version": None,
            "deployment": "prod/api",
            "inferences": [
                {"inference_id": i, "event_time": T, "inputs": [], "output": None, "subject": None}
                for i in ("p-2", "p-3")
            ],
        },
        ORIGIN,
    )
    assert [r[:3] for r in batch.inferences] == [
        ("p-2", "", "deployment:prod/api"),
        ("p-3", "", "deployment:prod/api"),
    ]
    assert len(batch) == 2


def test_tag_with_window() -> None:
    b = rows(
        Tag(
            "dataset:vendor/labels@v5",
            "corrupted-labels",
            incident_id="INC-7",
            record_count=2000,
            window_start=T,
            window_end=T2,
            reason="vendor audit",
        )
    )
    assert b.tags == [
        (
            "dataset:vendor/labels@v5",
            "corrupted-labels",
            "INC-7",
            2000,
            T,
            T2,
            "vendor audit",
            1,
            T,
            "e1",
        )
    ]


def test_inference_without_model_or_deployment_is_refused() -> None:
    record = {
        "event_id": "e",
        "event_time": T,
        "producer": "p",
        "namespace": "ns",
        "inference_id": "x",
        "model": None,
        "model_version": None,
        "deployment": None,
        "inputs": [],
        "output": None,
        "subject": None,
    }
    with pytest.raises(MappingError, match="neither a model version nor a deployment"):
        map_event("lineage.events.Inference", record, ORIGIN)


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
