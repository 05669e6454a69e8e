"""Repeats collapsed by kind, and silence for a host that configured no logging."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest

from lineage_collector import security
from lineage_collector.log_hygiene import OnlyWhenConfigured, RepeatFilter, configured, kind_of
from lineage_collector.security import redact_in_logs


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str, *args: object, name: str = "aiokafka", level: int = logging.ERROR
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def passed(f: logging.Filter, rec: logging.LogRecord) -> str | None:
    """The text ``f`` lets through for ``rec``, None if it drops it."""
    return rec.getMessage() if f.filter(rec) else None


def test_ten_thousand_identical_errors_in_four_minutes_are_five_lines_with_counts() -> None:
    clock = Clock()
    repeats = RepeatFilter(interval=60, clock=clock)
    lines = []
    for i in range(10_000):
        clock.now = 1000.0 + i * 0.025  # 40 a second for 250 s
        text = passed(repeats, record("Unable connect to node with id %s: %s", 1, "refused"))
        if text is not None:
            lines.append(text)
    said = "Unable connect to node with id 1: refused"
    assert lines == [said] + [f"{said} (repeated 2399 times in the last 60 s)"] * 4


def test_what_was_held_back_is_counted_on_the_next_line_of_its_kind() -> None:
    clock = Clock()
    repeats = RepeatFilter(interval=60, clock=clock)
    assert passed(repeats, record("fetch failed from %s", "node-1")) == "fetch failed from node-1"
    clock.now += 1
    assert passed(repeats, record("fetch failed from %s", "node-2")) is None
    clock.now += 1
    assert passed(repeats, record("fetch failed from %s", "node-3")) is None
    clock.now += 88
    assert passed(repeats, record("fetch failed from %s", "node-4")) == (
        "fetch failed from node-4 (repeated 2 times in the last 90 s)"
    )
    clock.now += 61
    assert passed(repeats, record("fetch failed from %s", "node-5")) == "fetch failed from node-5"


def test_kinds_are_logger_level_and_template() -> None:
    clock = Clock()
    repeats = RepeatFilter(interval=60, clock=clock)
    assert passed(repeats, record("lost %d events", 5)) is not None
    assert passed(repeats, record("lost %d events", 7)) is None  # only a number differs
    assert passed(repeats, record("lost %d events", 7, level=logging.WARNING)) is not None
    assert (
        passed(repeats, record("lost %d events", 7, name="lineage_collector.delivery.producer"))
        is not None
    )
    assert passed(repeats, record("stored %d events", 7)) is not None


def test_librdkafka_lines_are_told_apart_by_their_text_without_numbers() -> None:
    """confluent-kafka logs every librdkafka line with the template "%s [%s] %s"."""
    refused = "[thrd:127.0.0.1:{0}/bootstrap]: Connect to ipv4#127.0.0.1:{0} failed: refused"
    first = record("%s [%s] %s", "FAIL", "rdkafka#producer-1", refused.format(9092))
    again = record("%s [%s] %s", "FAIL", "rdkafka#producer-2", refused.format(9093))
    other = record("%s [%s] %s", "ERROR", "rdkafka#producer-1", "1/1 brokers are down")
    assert kind_of(first) == kind_of(again) != kind_of(other)
    repeats = RepeatFilter(interval=60, clock=Clock())
    assert [repeats.filter(r) for r in (first, again, other)] == [True, False, True]


def test_a_record_let_through_by_one_filter_is_not_held_by_the_next() -> None:
    """An SDK logger's filter and a worker's handler's filter decide once between them."""
    clock = Clock()
    sdk, handler = RepeatFilter(60, clock), RepeatFilter(60, clock)
    for _ in range(3):
        rec = record("Kafka cannot take events now")
        if sdk.filter(rec):
            assert handler.filter(rec)
        clock.now += 59.999
    assert "repeated once" in rec.getMessage()


def test_the_kind_survives_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redaction formats the message into ``msg``; repeats still differ only by numbers."""
    # Redaction installs itself once per process: undone after this test.
    monkeypatch.setattr(logging, "_logRecordFactory", logging.getLogRecordFactory())
    monkeypatch.setattr(security, "_installed", False)
    monkeypatch.setattr(security, "_redacted", set())
    redact_in_logs(["hush-hush-secret"])
    logger = logging.getLogger("tests.redacted")
    made: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, rec: logging.LogRecord) -> None:
            made.append(rec)

    logger.addHandler(keep := Keep())
    logger.propagate = False
    try:
        logger.error("retry %d failed for %s", 1, "hush-hush-secret")
        logger.error("retry %d failed for %s", 2, "hush-hush-secret")
    finally:
        logger.removeHandler(keep)
    assert [r.getMessage() for r in made] == ["retry 1 failed for ***", "retry 2 failed for ***"]
    assert kind_of(made[0]) == kind_of(made[1])


@contextlib.contextmanager
def bare_logging() -> Iterator[None]:
    """No handler anywhere, as in a host application that never configured logging (pytest
    adds its own to the root logger while a test runs)."""
    root = logging.getLogger()
    saved = list(root.handlers)
    root.handlers.clear()
    try:
        yield
    finally:
        root.handlers[:] = saved


def test_a_host_without_handlers_is_spared_what_only_a_handler_wants() -> None:
    logger = logging.getLogger("tests.quiet.kafka")
    quiet = OnlyWhenConfigured()
    rec = record("%s [%s] %s", "FAIL", "rdkafka#producer-1", "refused", name=logger.name)
    with bare_logging():
        assert not configured(logger)
        assert not quiet.filter(rec)
        logging.getLogger("tests.quiet").addHandler(handler := logging.NullHandler())
        try:
            assert configured(logger)
            assert quiet.filter(rec)
        finally:
            logging.getLogger("tests.quiet").removeHandler(handler)
