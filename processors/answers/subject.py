"""``lineage subject``: everything recorded about one person, for access and erasure requests.

The id is pseudonymised here with ``LINEAGE_SUBJECT_KEY`` exactly as the SDK did, so the raw
id never reaches the store; then: the datasets and sources holding the person's records
(``subject_holdings``), the model versions built from them, through any derived dataset
(``subject_models``), and the predictions made about the person (``subject_predictions``,
found through the ``by_subject`` projection index).
"""

from __future__ import annotations

from collector.subjects import Pseudonymizer
from processors.answers.sections import Answer
from processors.errors import QueryError
from processors.query_runner import QueryRunner

VIEWS = (
    (
        "holdings",
        "subject_holdings",
        "node, key_id",
        "no dataset or source holds records of this person",
    ),
    ("models", "subject_models", "model_version", "no model version was built from their records"),
    (
        "predictions",
        "subject_predictions",
        "model_version, deployment, output",
        "no prediction about this person is stored",
    ),
)


def subject(runner: QueryRunner, pseudonymizer: Pseudonymizer, subject_id: str) -> Answer:
    if not subject_id.strip():
        raise QueryError("the subject id is empty: give the id as the service knows the person")
    pseudonym = pseudonymizer.pseudonym(subject_id)
    answer = Answer()
    for title, view, order, empty in VIEWS:
        table = runner.run(
            f"SELECT * FROM {view}(subject = {{s:String}}) ORDER BY {order}", {"s": pseudonym}
        )
        answer.add(title, table, empty)
    answer.notes.insert(0, f"pseudonym {pseudonym} (key {pseudonymizer.key_id})")
    return answer
