"""Events about data: keys, checks, and the fields their schemas carry."""

from __future__ import annotations

import pytest

from lineage_collector.errors import InvalidEventError
from lineage_collector.events.data import (
    DatasetVersion,
    SourceExtraction,
    SubjectLinks,
    TransformationRun,
)
from lineage_collector.events.fields import DatasetRef

CUSTOMERS = DatasetRef("warehouse/customers", "v12")


def test_a_source_extraction_is_about_its_source() -> None:
    event = SourceExtraction("crm/export", "salesforce", "sf://acct", 120, CUSTOMERS)
    event.validate()
    assert event.key() == "source:crm/export"
    fields = event.fields()
    assert fields["output"] == {"dataset": "warehouse/customers", "version": "v12", "role": ""}
    assert fields["extraction_time"] is None  # the client fills in the event time
    with pytest.raises(InvalidEventError, match="field 'uri' is required"):
        SourceExtraction("crm/export", "salesforce", "", 120, CUSTOMERS).validate()


def test_a_transformation_run_keeps_its_events_in_order_by_run() -> None:
    run = TransformationRun("etl/clean", kind="CLEAN", inputs=[CUSTOMERS], parameters={"k": 3})
    run.validate()
    assert run.key() == f"run:{run.run_id}"
    assert run.fields()["parameters"] == {"k": "3"}  # parameters travel as text
    assert run.fields()["inputs"] == [CUSTOMERS.record()]
    with pytest.raises(InvalidEventError, match="field 'status' is 'DONE'"):
        TransformationRun("etl/clean", status="DONE").validate()
    with pytest.raises(InvalidEventError, match="TransformationRun: "):
        TransformationRun("").validate()


def test_a_dataset_version_counts_rows() -> None:
    version = DatasetVersion("warehouse/customers", "v12", "sha256:ab", 10, splits={"train": 8})
    version.validate()
    assert version.key() == "dataset:warehouse/customers@v12"
    assert version.fields()["splits"] == [{"name": "train", "row_count": 8}]
    with pytest.raises(InvalidEventError, match="'row_count' is -1, expected a non-negative"):
        DatasetVersion("warehouse/customers", "v12", "sha256:ab", -1).validate()
    with pytest.raises(InvalidEventError, match="field 'content_hash' is required"):
        DatasetVersion("warehouse/customers", "v12", "", 1).validate()


def test_subject_links_belong_to_datasets_and_sources_only() -> None:
    links = SubjectLinks("dataset:warehouse/customers@v12", "key-1", ["p1", "p2"])
    links.validate()
    assert links.key() == "dataset:warehouse/customers@v12"
    assert links.fields()["subjects"] == ["p1", "p2"]
    with pytest.raises(InvalidEventError, match="must be a dataset or source node id"):
        SubjectLinks("model:m@1", "key-1", []).validate()
    with pytest.raises(InvalidEventError, match="field 'key_id' is required"):
        SubjectLinks("source:crm/export", "", []).validate()
