"""``lineage subject``: everything recorded about one person, for access and erasure requests.

The id is pseudonymised here with ``LINEAGE_SUBJECT_KEY`` exactly as the SDK did, so the raw
id never reaches the store; then: the datasets and sources holding the person's records
(``subject_holdings``), the datasets made from those at any distance (``subject_derived``,
saying which were reached only through masking or anonymising steps), the model versions
built from them, through any derived dataset (``subject_models``), and the predictions made
about the person (``subject_predictions``, read from the ``by_person`` projection,
sorted by person, each prediction counted once under its newest copy).
"""

from __future__ import annotations

from lineage_collector.subjects import Pseudonymizer
from lineage_processors.answers.inputs import MAX_DEPTH
from lineage_processors.answers.masking import load_masking, unmasked_reach
from lineage_processors.answers.runner import QueryRunner, Table
from lineage_processors.answers.sections import Answer
from lineage_processors.answers.walk import walk
from lineage_processors.errors import QueryError

DERIVED = ["dataset", "depth", "masked"]
VIEWS = (
    ("models", "subject_models", "model_version", "no model version was built from their records"),
    (
        "predictions",
        "subject_predictions",
        "model_version, deployment, output",
        "no prediction about this person is stored",
    ),
)


def derived(runner: QueryRunner, holdings: list[str]) -> Table:
    """The datasets made from ``holdings``, as the ``subject_derived`` view gives them: the
    walk goes everywhere below; masked is 1 where no path avoids a masking step."""
    if not holdings:
        return Table(DERIVED, [])
    found, edges = walk(runner, holdings, "down", MAX_DEPTH)
    plain = unmasked_reach(edges, holdings, load_masking(runner, edges))
    rows = [
        [node, hop[0], 0 if node in plain else 1]
        for node, hop in found.items()
        if node.startswith("dataset:") and node not in holdings
    ]
    return Table(DERIVED, sorted(rows, key=lambda r: (r[1], r[0])))


def by_pseudonym(runner: QueryRunner, pseudonym: str) -> Answer:
    """Everything recorded about the person ``pseudonym`` stands for."""
    answer = Answer()
    holdings = runner.run(
        "SELECT * FROM subject_holdings(subject = {s:String}) ORDER BY node, key_id",
        {"s": pseudonym},
    )
    answer.add("holdings", holdings, "no dataset or source holds records of this person")
    answer.add(
        "derived datasets",
        derived(runner, sorted({r[0] for r in holdings.rows})),
        "no dataset was made from their records",
    )
    for title, view, order, empty in VIEWS:
        table = runner.run(
            f"SELECT * FROM {view}(subject = {{s:String}}) ORDER BY {order}", {"s": pseudonym}
        )
        answer.add(title, table, empty)
    return answer


def subject(runner: QueryRunner, pseudonymizer: Pseudonymizer, subject_id: str) -> Answer:
    if not subject_id.strip():
        raise QueryError("the subject id is empty: give the id as the service knows the person")
    pseudonym = pseudonymizer.pseudonym(subject_id)
    answer = by_pseudonym(runner, pseudonym)
    answer.notes.insert(0, f"pseudonym {pseudonym} (key {pseudonymizer.key_id})")
    return answer
