"""How much the SDK and the worker write to logging while Kafka is away: a line a minute.

An outage makes a Kafka client fail the same way many times a second (librdkafka's
``Connect to ... failed``, aiokafka's ``Unable connect to node``), and a log that repeats
one line thousands of times hides the line that matters. :class:`RepeatFilter` lets one
record of a kind through per interval and tells, on the next one it lets through, how many
it held back: ``... (repeated 312 times in the last 60 s)``.

A host application that has configured no logging at all gets the SDK's records from
logging's last resort, on stderr. It hears from the SDK once per outage (the producer's
own warning, see :mod:`lineage_collector.delivery.producer`), not librdkafka's account of each
retry: :class:`OnlyWhenConfigured` drops those unless someone set up a handler for them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

REPEAT_INTERVAL_S = 60.0
MAX_KINDS = 1000  # kinds of record remembered at once; the least recent is forgotten

# Attributes set on a record. The template is kept by lineage_collector.security's redaction, which
# replaces ``msg`` with the formatted text; the key lets a second filter (a worker's handler
# behind an SDK logger) see the kind the first one saw, and the decision spares it deciding
# again at a slightly different moment.
TEMPLATE_ATTR = "lineage_template"
_KEY_ATTR = "lineage_repeat_key"
_DECIDED_ATTR = "lineage_repeat_decided"

_PLACEHOLDER = re.compile(r"%(\([^)]*\))?[-#0 +]*(\*|\d+)?(\.(\*|\d+))?[diouxXeEfFgGcrsa%]")
_WORD = re.compile(r"[A-Za-z]{2}")
_NUMBER = re.compile(r"\d+")

Kind = tuple[str, int, str]


def kind_of(record: logging.LogRecord) -> Kind:
    """What makes two records the same complaint: logger, level and message template.

    The template (``record.msg``), not the text, so lines differing only in a count, a
    port or an id are one kind. A template with no words of its own (confluent-kafka logs
    every librdkafka line as ``"%s [%s] %s"``) says nothing, so there the text counts,
    with its numbers blanked.
    """
    known: Kind | None = record.__dict__.get(_KEY_ATTR)
    if known is not None:
        return known
    template = str(record.__dict__.get(TEMPLATE_ATTR, record.msg))
    if not _WORD.search(_PLACEHOLDER.sub("", template)):
        # A malformed record keeps its template: logging reports it when it formats it.
        with contextlib.suppress(Exception):
            template = _NUMBER.sub("#", record.getMessage())
    kind = (record.name, record.levelno, template)
    record.__dict__[_KEY_ATTR] = kind
    return kind


@dataclass
class _Window:
    opened: float  # when a record of this kind was last let through
    held: int = 0  # records of this kind held back since


class RepeatFilter(logging.Filter):
    """Let one record of each kind (:func:`kind_of`) through per ``interval`` seconds.

    The first record of a kind passes; the others within ``interval`` of it are dropped
    and counted; the first one after that passes with the count appended. ``clock`` is
    injectable for tests. Thread-safe: librdkafka logs from its own threads.
    """

    def __init__(
        self,
        interval: float = REPEAT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = MAX_KINDS,
    ) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._max_kinds = max_kinds
        self._windows: OrderedDict[Kind, _Window] = OrderedDict()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get(_DECIDED_ATTR):
            return True
        kind = kind_of(record)
        now = self._clock()
        with self._lock:
            window = self._windows.get(kind)
            if window is not None and now - window.opened < self.interval:
                window.held += 1
                return False
            self._windows[kind] = _Window(now)
            self._windows.move_to_end(kind)
            if len(self._windows) > self._max_kinds:
                self._windows.popitem(last=False)
        record.__dict__[_DECIDED_ATTR] = True
        if window is not None and window.held:
            _say_repeated(record, window.held, now - window.opened)
        return True

    def forget(self) -> None:
        """Start afresh: the next record of every kind passes."""
        with self._lock:
            self._windows.clear()


def _say_repeated(record: logging.LogRecord, held: int, seconds: float) -> None:
    try:
        text = record.getMessage()
    except Exception:  # malformed: leave it to logging's own error path
        return
    times = "once" if held == 1 else f"{held} times"
    record.msg = f"{text} (repeated {times} in the last {seconds:.0f} s)"
    # Empty, not None: faust's formatter would format a message with None arguments again.
    record.args = ()


def configured(logger: logging.Logger) -> bool:
    """Whether a record of ``logger`` reaches a handler someone set up, as logging decides
    it (:meth:`logging.Logger.callHandlers`): if not, logging's last resort prints it."""
    current: logging.Logger | None = logger
    while current is not None:
        if current.handlers:
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


class OnlyWhenConfigured(logging.Filter):
    """Drop records no handler was set up for, rather than print them on stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        return configured(logging.getLogger(record.name))


# One filter for every SDK logger: logging's loggers are process-wide, and so is what a
# host wants to hear from them. Its windows are per kind, so sharing it mixes nothing.
_SDK_REPEATS = RepeatFilter()
_QUIET = OnlyWhenConfigured()


def forget_sdk_repeats() -> None:
    """Let the next record of every kind through the SDK's loggers (for tests, each of which
    expects to hear what it provokes, whatever an earlier one provoked)."""
    _SDK_REPEATS.forget()


def sdk_logger(name: str, *, chatty: bool = False) -> logging.Logger:
    """The logger ``name`` with the SDK's filters: repeats collapsed; with ``chatty`` (a
    library's account of its retries), also silent while the host configured no logging."""
    logger = logging.getLogger(name)
    if _SDK_REPEATS not in logger.filters:
        if chatty:
            logger.addFilter(_QUIET)
        logger.addFilter(_SDK_REPEATS)
    return logger
