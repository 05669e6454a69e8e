"""A run that failed builds nothing: derived state (closures, tag impacts) leaves it out,
also when the failure is stored after the run's inputs and outputs were derived from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lineage_collector import DatasetRef
from lineage_collector.events import Tag, TrainingRun
from lineage_processors.store.connect import Store
from tests.processors.answers.direct import DirectWriter

T0 = datetime(2026, 5, 1, tzinfo=UTC)
RAW, GOOD = DatasetRef("f/raw", "v1", "train"), DatasetRef("f/good", "v1", "train")
RUN, RETRY = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def _closure(store: Store) -> set[str]:
    rows = store.query(
        "SELECT DISTINCT ancestor FROM model_upstream WHERE model_node = 'model:f@1'"
    ).result_rows
    return {r[0] for r in rows}


def _impacts(store: Store) -> dict[str, int]:
    rows = store.query("SELECT affected, active FROM tag_impacts FINAL").result_rows
    return {node: int(active) for node, active in rows}


def test_a_run_failing_after_its_start_was_derived_leaves_the_lineage(store: Store) -> None:
    writer = DirectWriter(store)
    writer.write(
        [
            (Tag("dataset:f/raw@v1", "pii", "INC-F"), T0),
            (TrainingRun("f", "1", [RAW], run_id=RUN, status="STARTED"), T0),
        ]
    )
    assert _closure(store) == {"dataset:f/raw@v1", f"run:{RUN}"}
    assert _impacts(store)["model:f@1"] == 1
    # The attempt fails; a retry on other data completes.
    writer.write(
        [
            (TrainingRun("f", "1", [RAW], run_id=RUN, status="FAILED"), T0 + timedelta(1)),
            (TrainingRun("f", "1", [GOOD], run_id=RETRY), T0 + timedelta(2)),
        ]
    )
    assert _closure(store) == {"dataset:f/good@v1", f"run:{RETRY}"}
    impacts = _impacts(store)
    assert impacts["model:f@1"] == 0 and impacts[f"run:{RUN}"] == 0
    assert impacts["dataset:f/raw@v1"] == 1
