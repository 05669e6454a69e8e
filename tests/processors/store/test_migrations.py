"""The migrations package: one module per migration, numbered as recorded, views left out."""

from __future__ import annotations

import importlib
import pkgutil
import re

from lineage_processors.store import migrations
from lineage_processors.store.migrations import MIGRATIONS

# What schema_migrations records of each released migration: stores already hold these rows,
# so a migration keeps its version and name for good.
RELEASED = {
    1: "graph core: raw events, nodes, properties, edges",
    2: "subjects, inferences, tags, deployments",
    3: "column lineage from OpenLineage columnLineage facets",
    4: "source offsets on every row, for exactly-once recovery",
    5: "derived state: attribution of predictions, model closures, tag impacts",
    6: "dead letters, recorded beside the DLQ topic",
    7: "how far derived state has followed each partition",
    8: "answers: prediction lookups by id and person, parameterised views for each question",
    9: "prediction lookups by the projection indexes alone",
    10: "predictions decoded by ClickHouse from their Avro batches",
    11: "answers: downstream role, impact stopping at masking, replay-safe counts, a person's "
    "derived datasets and predictions read from a projection sorted by person",
    12: "the same rows whatever order repeated statements arrive in: edges, column edges and "
    "subject links keep their earliest statement, nodes, properties, tags, deployments "
    "and training their newest, ties settled by run state and event id",
    13: "prediction lookups by id from a projection sorted by id",
    14: "prediction projections merged as they are, each copy of a prediction stamped with "
    "when it was written, and readers through them taking the newest",
    15: "graph tables merged column by column",
    16: "graph tables written in smaller compressed blocks",
    17: "failed and aborted runs",
}


def test_every_migration_module_is_listed_once_in_the_order_of_its_number() -> None:
    modules = sorted(
        m.name for m in pkgutil.iter_modules(migrations.__path__) if re.match(r"m\d{3}_", m.name)
    )
    assert [int(name[1:4]) for name in modules] == [m.version for m in MIGRATIONS]
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    for name, migration in zip(modules, MIGRATIONS, strict=True):
        module = importlib.import_module(f"{migrations.__name__}.{name}")
        assert module.MIGRATION is migration, name


def test_released_migrations_keep_their_versions_and_names() -> None:
    assert {m.version: m.name for m in MIGRATIONS if m.version in RELEASED} == RELEASED


def test_no_migration_creates_a_view() -> None:
    """Views live in lineage_processors.store.views; the materialised view of migration 10
    writes rows and stays in its migration."""
    view = re.compile(r"\bCREATE\s+(OR\s+REPLACE\s+)?VIEW\b", re.IGNORECASE)
    found = [m.version for m in MIGRATIONS for s in m.statements if view.search(s)]
    assert found == []
