"""Which statements people may run: reads only, told apart before ClickHouse sees them.

ClickHouse's ``readonly=1`` refuses writes, DDL and settings, but still runs ``KILL QUERY``,
most of ``SYSTEM`` and ``OPTIMIZE``; and a refused statement must not reach a session at all.
So the first keyword decides, after comments and brackets, and one statement is all a
request may hold. Pure functions: no store, no I/O.
"""

from __future__ import annotations

import re

from lineage_processors.errors import QueryError

# What a read may start with. WITH covers common table expressions; DESC is DESCRIBE.
READ_KEYWORDS = frozenset({"SELECT", "WITH", "EXPLAIN", "SHOW", "DESCRIBE", "DESC", "EXISTS"})

REFUSED = (
    "queries are read-only: only SELECT, WITH, EXPLAIN, SHOW, DESCRIBE and EXISTS are "
    "run; writes, DDL, SET, KILL, SYSTEM and OPTIMIZE are refused"
)

_WORD = re.compile(r"[A-Za-z_]+")


def _skip_blank(sql: str, i: int) -> int:
    """Index of the first character at or after ``i`` that is not space or a comment."""
    n = len(sql)
    while i < n:
        if sql[i].isspace() or sql[i] == "(":
            i += 1
        elif sql.startswith("--", i) or sql[i] == "#":
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise QueryError("the query has a comment /* that is never closed")
            i = end + 2
        else:
            return i
    return i


def _statement_end(sql: str, start: int) -> int:
    """Index of the first ``;`` outside quotes and comments at or after ``start``, or -1."""
    i, n = start, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            i = _closing_quote(sql, i)
        elif sql.startswith("--", i) or c == "#":
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        elif c == ";":
            return i
        i += 1
    return -1


def _closing_quote(sql: str, i: int) -> int:
    """Index of the quote closing the one at ``i`` (backslash and doubled quotes escape)."""
    quote, n = sql[i], len(sql)
    i += 1
    while i < n:
        if sql[i] == "\\":
            i += 2
            continue
        if sql[i] == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i
        i += 1
    raise QueryError(f"the query has a {quote} that is never closed")


def check_read(sql: str) -> str:
    """``sql`` without a trailing ``;`` if it is one read statement; else QueryError."""
    start = _skip_blank(sql, 0)
    word = _WORD.match(sql, start)
    if word is None:
        raise QueryError("the query is empty" if start >= len(sql) else REFUSED)
    if word.group(0).upper() not in READ_KEYWORDS:
        raise QueryError(f"{REFUSED} (this one starts with {word.group(0).upper()})")
    end = _statement_end(sql, start)
    if end < 0:
        return sql
    if _skip_blank(sql, end + 1) < len(sql):
        raise QueryError("send one statement at a time: the query holds more after its ';'")
    return sql[:end]
