"""What events are made of: references, and checks that name the event and the field."""

from __future__ import annotations

import pytest

from lineage_collector.errors import InvalidEventError
from lineage_collector.events.fields import (
    DatasetRef,
    InputRef,
    check_id,
    check_refs,
    float_map,
    new_run_id,
    one_of,
    require,
)


def test_references_as_records() -> None:
    ref = DatasetRef("warehouse/customers", "v12", "train")
    assert ref.node_id == "dataset:warehouse/customers@v12"
    assert ref.record() == {"dataset": "warehouse/customers", "version": "v12", "role": "train"}
    assert DatasetRef("d", "v").record(default_role="train")["role"] == "train"
    assert InputRef("feature-row", "r-1").record() == {
        "kind": "feature-row",
        "ref": "r-1",
        "dataset": None,
    }
    assert new_run_id() != new_run_id()


def test_each_check_names_the_event_and_the_field() -> None:
    with pytest.raises(InvalidEventError, match=r"^Tag: field 'tag' is required$"):
        require("Tag", "tag", "  ")
    require("Tag", "tag", "pii")
    with pytest.raises(
        InvalidEventError, match=r"^X: field 'kind' is 'MAGIC', expected one of A, B"
    ):
        one_of("X", "kind", "MAGIC", ("A", "B"))
    assert float_map("X", "metrics", {"f1": "0.5", 2: 1}) == {"f1": 0.5, "2": 1.0}
    with pytest.raises(InvalidEventError, match="field 'metrics' entry 'f1' is 'high'"):
        float_map("X", "metrics", {"f1": "high"})
    with pytest.raises(InvalidEventError, match=r"^X: inputs\[1\] must be a DatasetRef"):
        check_refs("X", "inputs", [DatasetRef("d", "v"), "raw"])  # type: ignore[list-item]
    with pytest.raises(InvalidEventError, match=r"^X: "):
        check_refs("X", "inputs", [DatasetRef("d", "")])
    assert check_id("X", lambda: "job:etl/x") == "job:etl/x"
