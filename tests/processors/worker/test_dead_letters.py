"""The dead-letter topic: a rejected record goes there untouched, with headers saying where it
came from and why; a topic that refuses stops the batch with a message saying what to fix."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lineage_processors.ingest.processor import Record, Rejected
from lineage_processors.worker.dead_letters import DeadLetterError, DeadLetterTopic, dlq_headers

BAD = Rejected(Record("lineage.events", 3, 17, b"key", b"\xc3\x01junk"), "decode", ValueError("x"))


class Producer:
    def __init__(self, refuse: Exception | None = None) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.refuse = refuse

    async def send_and_wait(self, *args: Any) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append(args)


class App:
    def __init__(self, producer: Producer) -> None:
        self.producer = producer


def test_headers_name_the_origin_and_the_error() -> None:
    assert dlq_headers(BAD) == [
        ("lineage.original.topic", b"lineage.events"),
        ("lineage.original.partition", b"3"),
        ("lineage.original.offset", b"17"),
        ("lineage.stage", b"decode"),
        ("lineage.exception.class", b"ValueError"),
        ("lineage.exception.message", b"x"),
    ]
    long = Rejected(BAD.record, "map", ValueError("\udce9" + "y" * 2000))
    message = dict(dlq_headers(long))["lineage.exception.message"]
    assert len(message) == 1000 and message.startswith(b"?")  # cut, and never unencodable


def test_a_rejected_record_is_sent_as_read() -> None:
    producer = Producer()
    asyncio.run(DeadLetterTopic(App(producer), "lineage.dlq")(BAD))
    assert producer.sent == [("lineage.dlq", b"key", b"\xc3\x01junk", None, None, dlq_headers(BAD))]


def test_a_topic_that_refuses_says_what_to_fix() -> None:
    topic = DeadLetterTopic(App(Producer(refuse=RuntimeError("too large"))), "lineage.dlq")
    with pytest.raises(DeadLetterError) as err:
        asyncio.run(topic(BAD))
    assert str(err.value) == (
        "the dead-letter topic lineage.dlq refused lineage.events:3@17 (RuntimeError: too large); "
        "nothing from that batch on is committed. Fix the topic (size limit, ACLs, existence) "
        "and restart the worker"
    )
