"""An answer in several parts: named tables, printed one after another."""

from __future__ import annotations

from dataclasses import dataclass, field

from lineage_processors.answers.runner import Table


@dataclass
class Answer:
    """Named tables, in order, and plain sentences saying what is empty or notable."""

    sections: list[tuple[str, Table]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, title: str, table: Table, empty: str = "") -> None:
        """Add ``table``; when it has no rows, add the sentence ``empty`` instead (if any)."""
        if table.rows or not empty:
            self.sections.append((title, table))
        if not table.rows and empty:
            self.notes.append(empty)

    def section(self, title: str) -> Table:
        for name, table in self.sections:
            if name == title:
                return table
        raise KeyError(title)
