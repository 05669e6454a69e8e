"""Only single read statements pass; everything else is refused before ClickHouse sees it."""

from __future__ import annotations

import pytest

from lineage_processors.errors import QueryError
from lineage_processors.store.read_only import check_read

READS = [
    "SELECT 1",
    "select 1;",
    "  -- a comment\n SELECT 1",
    "/* a comment */ WITH x AS (SELECT 1) SELECT * FROM x",
    "(SELECT 1)",
    "EXPLAIN SELECT 1",
    "SHOW TABLES",
    "DESCRIBE TABLE edges",
    "DESC edges",
    "EXISTS TABLE edges",
    "SELECT ';' AS semicolon, 'it''s' AS quoted",
    "SELECT 1 -- trailing; comment",
    "SELECT `we;ird` FROM t",
]

REFUSED = [
    "DROP TABLE edges",
    "SET readonly = 0",
    "KILL QUERY WHERE 1",
    "SYSTEM STOP MERGES",
    "OPTIMIZE TABLE edges FINAL",
    "INSERT INTO nodes VALUES ('x')",
    "ALTER TABLE nodes DELETE WHERE 1",
    "TRUNCATE TABLE events_raw",
    "/* SELECT */ DROP TABLE edges",
    "-- SELECT\nSYSTEM STOP MERGES",
    "SELECT 1; SYSTEM STOP MERGES",
    "SELECT 1; DROP TABLE edges;",
    "SELECT 1 # ;\n; KILL QUERY WHERE 1",
    "USE system",
    "GRANT ALL ON *.* TO default",
]


@pytest.mark.parametrize("sql", READS)
def test_a_read_passes(sql: str) -> None:
    assert check_read(sql).strip().rstrip(";") == check_read(sql).strip()


@pytest.mark.parametrize("sql", REFUSED)
def test_anything_else_is_refused_saying_what_passes(sql: str) -> None:
    with pytest.raises(QueryError) as refused:
        check_read(sql)
    message = str(refused.value)
    assert "read-only" in message or "one statement" in message, message


def test_a_trailing_semicolon_is_dropped_and_nothing_else() -> None:
    assert check_read("SELECT 1 ;  ") == "SELECT 1 "
    assert check_read("SELECT 'a;b'") == "SELECT 'a;b'"


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/* open", "never closed"),
        ("SELECT 'open", "never closed"),
    ],
)
def test_broken_input_is_named(sql: str, says: str) -> None:
    with pytest.raises(QueryError, match=says):
        check_read(sql)
