"""Request bodies read against a size limit and a deadline, whatever the client declares.
(The endpoints themselves are held to their contracts on a running worker: tests/security,
tests/e2e/test_openlineage.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from lineage_processors.worker.http_api import BodyTooLarge, BodyTooSlow, read_body


class Stream:
    """A body arriving in ``chunks``, each after ``delay`` seconds."""

    def __init__(self, chunks: Sequence[bytes], delay: float = 0.0) -> None:
        self.chunks = list(chunks)
        self.delay = delay

    async def read(self, n: int) -> bytes:
        await asyncio.sleep(self.delay)
        return self.chunks.pop(0)[:n] if self.chunks else b""


class Request:
    def __init__(self, chunks: Sequence[bytes], declared: str = "", delay: float = 0.0) -> None:
        self.headers = {"Content-Length": declared} if declared else {}
        self.content = Stream(chunks, delay)


def read(request: Request, limit: int = 10, seconds: float = 5.0) -> bytes:
    return asyncio.run(read_body(request, limit, seconds))


def test_a_body_within_its_limit_is_read_whole() -> None:
    assert read(Request([b"{}", b"[1]"], declared="5")) == b"{}[1]"
    assert read(Request([b"x" * 10])) == b"x" * 10


def test_a_body_over_its_limit_is_refused_as_soon_as_it_shows() -> None:
    with pytest.raises(BodyTooLarge):
        read(Request([], declared="11"))  # declared: refused unread
    with pytest.raises(BodyTooLarge):
        read(Request([b"x" * 6, b"x" * 6, b"never read"]))  # undeclared: counted


def test_a_body_that_comes_too_slowly_is_cut_at_its_deadline() -> None:
    with pytest.raises(BodyTooSlow):
        read(Request([b"x", b"y", b"z"], delay=0.2), seconds=0.3)
