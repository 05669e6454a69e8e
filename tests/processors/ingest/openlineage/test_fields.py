"""A malformed OpenLineage event is refused with the path of the field and what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from lineage_processors.ingest.openlineage.fields import OpenLineageError
from tests.processors.ingest.openlineage.samples import (
    PARENT,
    RUN,
    broken,
    complete_event,
    facet,
    mapped,
)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (broken("run", ...), "run is missing"),
        (broken("run.runId", "run-1"), "run.runId 'run-1' is not a UUID"),
        (broken("job.name", ...), "job.name is missing"),
        (broken("job.namespace", ""), "job.namespace must not be empty"),
        (broken("job.name", 7), "job.name must be a string, not int"),
        (broken("eventTime", "yesterday"), "eventTime 'yesterday' is not an ISO 8601"),
        (broken("eventTime", "2026-05-01"), "eventTime '2026-05-01' is not an ISO 8601"),
        (broken("eventTime", "2426-05-01T00:00:00Z"), "is not between 1900 and 2299"),
        (broken("producer", ...), "producer is missing"),
        (broken("eventType", "DONE"), "eventType 'DONE' is not one of ABORT, COMPLETE"),
        (broken("eventType", ["START"]), "eventType ['START'] is not one of"),
        (broken("inputs", {}), "inputs must be a list, not dict"),
        (broken("inputs[0].namespace", None), "inputs[0].namespace is missing"),
        (
            broken("inputs[0].facets.version.datasetVersion", 42),
            "inputs[0].facets.version.datasetVersion must be a string, not int",
        ),
        (
            broken("job.facets.jobType.integration", ...),
            "job.facets.jobType.integration is missing",
        ),
        (
            broken("run.facets.executionParameters.parameters[0]", "x=1"),
            "run.facets.executionParameters.parameters[0] must be an object, not str",
        ),
        (
            broken("run.facets.parent", facet(run={"runId": PARENT}, job={"name": "x"})),
            "run.facets.parent.job.namespace is missing",
        ),
        (
            broken(
                "run.facets.parent", facet(run={"runId": RUN}, job={"namespace": "a", "name": "b"})
            ),
            "run.facets.parent.run.runId names the run itself",
        ),
        (
            broken("run.facets.errorMessage", facet(programmingLanguage="PYTHON")),
            "run.facets.errorMessage.message is missing",
        ),
        (
            broken("schemaURL", "https://example.com/my-schema.json"),
            "schemaURL 'https://example.com/my-schema.json' is not an OpenLineage spec URL",
        ),
        (
            broken(
                "schemaURL", "https://openlineage.io/spec/3-0-0/OpenLineage.json#/$defs/RunEvent"
            ),
            "schemaURL spec version 3-0-0 is not supported",
        ),
        (
            broken("schemaURL", "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/Job"),
            "schemaURL names Job; expected one of RunEvent, JobEvent, DatasetEvent",
        ),
    ],
)
def test_malformed_events_name_the_field(event: dict[str, Any], message: str) -> None:
    with pytest.raises(OpenLineageError, match=r"^invalid OpenLineage event: ") as err:
        mapped(event)
    assert message in str(err.value)


def test_column_lineage_faults_name_the_field() -> None:
    event = complete_event()
    event["outputs"][0]["facets"] = {
        "columnLineage": facet(
            fields={
                "id": {
                    "inputFields": [
                        {
                            "namespace": "n",
                            "name": "t",
                            "field": "id",
                            "transformations": [{"type": "DIRECT", "masking": "no"}],
                        }
                    ]
                }
            }
        )
    }
    with pytest.raises(OpenLineageError) as err:
        mapped(event)
    assert str(err.value) == (
        "invalid OpenLineage event: outputs[0].facets.columnLineage.fields.id.inputFields[0]"
        ".transformations[0].masking must be a boolean, not str"
    )
