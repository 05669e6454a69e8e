"""The store's views, each in its current definition, once: ``<name>.sql`` in this folder.

Migrations never create or change a view. Every migrate creates each view again from its file
(``CREATE OR REPLACE VIEW``, one atomic step in ClickHouse), so a view is changed by editing
its file, and stores of any age end with the same views. The files are package data
(``*.sql`` in pyproject.toml), read with importlib.resources.

:data:`VIEWS` is the order they are created in, a view after those it reads. Each names the
migration it ``requires``: the one that made the tables, columns and projections its text
relies on. A view is created right after that migration runs (a later migration may load a
dictionary whose source it is), and again at the end of every migrate.

Not here: the dictionaries of migration 5, which nothing redefines, and the materialised view
of migration 10, which writes: dropped and created again while another worker inserts, it
would lose that worker's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class View:
    """A view of the store, defined by the file ``<name>.sql`` in this package."""

    name: str
    requires: int
    """The migration whose schema the view reads; the view exists from then on."""

    def statement(self) -> str:
        """The statement that creates the view, or replaces it as it is in the store."""
        return resources.files(__name__).joinpath(f"{self.name}.sql").read_text("utf-8")


VIEWS: tuple[View, ...] = (
    # Sources of the dictionaries of migration 5.
    View("model_training_latest", 5),
    View("deployment_periods", 5),
    View("active_tag_impacts", 5),
    View("affected_predictions", 5),
    # One per question, as `lineage` asks it.
    View("upstream_of", 8),
    View("model_lineage", 8),
    View("model_facts", 8),
    View("model_diff", 8),
    View("subject_holdings", 8),
    View("subject_models", 8),
    View("downstream_of", 11),
    View("impact_of", 11),
    View("subject_derived", 11),
    # Each prediction's newest copy, by written_at.
    View("subject_predictions", 14),
    View("attributions", 14),
)
