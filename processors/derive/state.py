"""State derived from stored lineage (attribution, closures, tag impacts), kept up to date
on a timer rather than after every batch.

A derived step costs about as much per run as per record: it walks the graph around what
changed, and a walk's queries cost the same for one new edge as for ten thousand. Run after
every batch, the steps held graph ingest to a few thousand events a second; run every
``DERIVE_SECONDS`` over everything stored since, they cost a few hundred microseconds a
batch. The derived state trails the rows by at most that long.

A step is given the Kafka offsets the rows were stored from, as an SQL condition, and reads
what it needs back from the store, never from memory: the same code then serves a normal run
and a worker starting again after a crash. How far the steps have got is kept per partition
in ``derived_progress`` (migration 7); at start-up a worker takes up every partition from
there, so rows stored and committed by a worker that died before its next run still get
their steps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from lineage_processors.derive.walks import insert, quote
from lineage_processors.ingest.recovery import Partition
from lineage_processors.store.connect import Store

log = logging.getLogger(__name__)

# How often derived state catches up with the rows: what it may trail them by.
DERIVE_SECONDS = 1.0

# Most offsets one run derives from. A run's memory grows with what it covers (the closure
# walks, the pairs they improve): 200,000 training runs derived in one run took a process
# to 750 MB, 50,000 at a time to 455 MB in the same 4.4 s. A worker started after a long
# stop, with millions of rows to catch up on, takes them this many at a time. (At 20,000,
# 410 MB but 5.0 s, and a backlog at 20,000 events/s paid for the extra runs.)
DERIVE_MAX_RECORDS = 50_000

Ranges = dict[Partition, tuple[int, int]]

# A step brings some derived state up to date with the rows stored from some offsets (it
# reads them back with stored_from); it must be idempotent (a crash runs it again over rows
# it has seen) and raise StoreError to be retried.
Step = Callable[[Ranges], None]

# Tables whose rows, stored, call for steps.
WATCHED = ("edges", "model_training", "deployments", "tags")
PROGRESS_COLUMNS = ("topic", "partition", "offset", "at")


def merged(ranges: Ranges, firsts: dict[Partition, int], lasts: dict[Partition, int]) -> Ranges:
    """``ranges`` widened to cover offsets ``firsts[p]..lasts[p]`` of each partition p."""
    out = dict(ranges)
    for tp, first in firsts.items():
        last = lasts[tp]
        lo, hi = out.get(tp, (first, last))
        out[tp] = (min(lo, first), max(hi, last))
    return out


def split(ranges: Ranges, limit: int) -> tuple[Ranges, Ranges]:
    """``ranges`` cut to about ``limit`` offsets, each partition taking an even share from
    its first offset on, and the ranges left over."""
    if not ranges:
        return {}, {}
    share = max(1, limit // len(ranges))
    now: Ranges = {}
    later: Ranges = {}
    for tp, (lo, hi) in ranges.items():
        cut = lo + share - 1
        now[tp] = (lo, min(hi, cut))
        if cut < hi:
            later[tp] = (cut + 1, hi)
    return now, later


def union(a: Ranges, b: Ranges) -> Ranges:
    """Ranges covering both ``a`` and ``b``: per partition, from the lower first offset to
    the higher last (with any offsets between them)."""
    return merged(a, {tp: lo for tp, (lo, _) in b.items()}, {tp: hi for tp, (_, hi) in b.items()})


def stored_from(ranges: Ranges) -> str:
    """SQL condition matching the rows, in any table, stored from the offsets ``ranges``.

    Reading rows back by offsets also finds those an earlier worker stored and committed
    before it died, and before its steps ran. (The offset columns carry a minmax index.)
    """
    if not ranges:
        return "0"
    return (
        "("
        + " OR ".join(
            f"(src_topic = {quote(t)} AND src_partition = {p} AND src_offset BETWEEN {lo} AND {hi})"
            for (t, p), (lo, hi) in sorted(ranges.items())
        )
        + ")"
    )


def _pairs(partitions: Sequence[Partition]) -> str:
    """An SQL tuple literal of (topic, partition) pairs, for ``(topic, partition) IN``."""
    return "(" + ", ".join(f"({quote(t)}, {p})" for t, p in partitions) + ")"


class Derivation:
    """Runs the steps over what was stored since the last run, on a thread of its own (one
    at a time); :meth:`stored` may be called from any thread."""

    def __init__(
        self,
        store: Store,
        steps: Sequence[Step],
        topics: Sequence[str],
        max_records: int = DERIVE_MAX_RECORDS,
    ) -> None:
        self.store = store
        self.steps = list(steps)
        self.topics = list(topics)  # the topics whose rows call for steps
        self.max_records = max_records
        self.pending: Ranges = {}
        # The last offset of each partition the steps have run over, as far as this worker
        # knows: read from derived_progress the first time it derives a partition.
        self.derived_to: dict[Partition, int] = {}
        self.behind = False  # the last run left stored offsets for the next one
        self.lock = threading.Lock()  # stored() may run on another thread than run()
        self.resumed = False
        self.runs = 0

    def stored(self, firsts: dict[Partition, int], lasts: dict[Partition, int]) -> None:
        """Offsets ``firsts..lasts`` of each partition are stored: derive from them next run."""
        with self.lock:
            self.pending = merged(self.pending, firsts, lasts)

    def run(self) -> int:
        """Run the steps over the ranges stored since the last run, at most about
        ``max_records`` offsets of them (the rest is left for the next run, and ``behind``
        set); returns the offsets covered. A failure keeps the ranges for the next run."""
        if not self.resumed:
            self.stored(*self.unfinished())
            self.resumed = True
        self.take_up_from_progress()
        with self.lock:
            ranges, self.pending = split(self.pending, self.max_records)
            self.behind = bool(self.pending)
        if not ranges:
            return 0
        try:
            self.derive(ranges)
            for tp, (_, hi) in ranges.items():
                self.derived_to[tp] = max(self.derived_to.get(tp, -1), hi)
        except BaseException:
            # Kept for the next run, merged with what was stored meanwhile.
            with self.lock:
                self.pending = union(self.pending, ranges)
            self.behind = False  # retried after the usual pause, not at once
            raise
        self.runs += 1
        return sum(hi - lo + 1 for lo, hi in ranges.values())

    def take_up_from_progress(self) -> None:
        """Widen the pending range of each partition new to this worker down to just after
        the partition's recorded progress.

        With several workers a partition changes hands: a worker that stored rows and died
        before its next run leaves them underived, and its partitions' new owners store
        and derive only later offsets. Recording their progress would then pass over the
        rows in between for good; starting each partition's first run where its progress
        stands derives them. (Steps are idempotent: a range derived twice costs time only.)
        """
        # Under the lock throughout, so that no partition joins between the reading of
        # progress and the widening; the query runs only when a partition is new here.
        with self.lock:
            new = [tp for tp in self.pending if tp not in self.derived_to]
            if new:
                known = {
                    (t, int(p)): int(o)
                    for t, p, o in self.store.query(
                        "SELECT topic, partition, max(offset) FROM derived_progress "
                        f"WHERE (topic, partition) IN {_pairs(new)} GROUP BY topic, partition"
                    ).result_rows
                }
                for tp in new:
                    # A partition never derived from starts at its first offset.
                    self.derived_to[tp] = known.get(tp, -1)
            # Also for a partition this worker derived from before, then lost and got
            # back: from where it left off, covering what another owner left underived.
            for tp, (lo, hi) in self.pending.items():
                self.pending[tp] = (min(lo, self.derived_to[tp] + 1), hi)

    def derive(self, ranges: Ranges) -> None:
        started = time.monotonic()
        for step in self.steps:
            step(ranges)
        now = datetime.now(UTC)
        progress = [(t, p, hi, now) for (t, p), (_, hi) in sorted(ranges.items())]
        insert(self.store, "derived_progress", PROGRESS_COLUMNS, progress)
        log.debug(
            "derived state up to date with %d partitions in %.3fs",
            len(ranges),
            time.monotonic() - started,
        )

    def unfinished(self) -> tuple[dict[Partition, int], dict[Partition, int]]:
        """Offsets stored but not yet derived from, per partition: from the progress table
        on (or from the start, for a partition never derived from)."""
        done = {
            (t, int(p)): int(o)
            for t, p, o in self.store.query(
                "SELECT topic, partition, max(offset) FROM derived_progress "
                "GROUP BY topic, partition"
            ).result_rows
        }
        if not self.topics:
            return {}, {}
        after = [
            f"(src_topic = {quote(t)} AND src_partition = {p} AND src_offset > {o})"
            for (t, p), o in sorted(done.items())
        ]
        never = []
        for t in self.topics:
            seen = ", ".join(str(p) for (dt, p) in sorted(done) if dt == t)
            never.append(
                f"(src_topic = {quote(t)} AND src_partition NOT IN ({seen}))"
                if seen
                else f"src_topic = {quote(t)}"
            )
        where = " OR ".join([*after, *never])
        union = " UNION ALL ".join(
            f"SELECT src_topic, src_partition, min(src_offset) AS lo, max(src_offset) AS hi "
            f"FROM {table} WHERE {where} GROUP BY src_topic, src_partition"
            for table in WATCHED
        )
        firsts: dict[Partition, int] = {}
        lasts: dict[Partition, int] = {}
        for t, p, lo, hi in self.store.query(
            f"SELECT src_topic, src_partition, min(lo), max(hi) FROM ({union}) "
            "GROUP BY src_topic, src_partition"
        ).result_rows:
            firsts[(t, int(p))] = int(lo)
            lasts[(t, int(p))] = int(hi)
        if firsts:
            log.info("derived state behind on %d partitions at start-up: catching up", len(firsts))
        return firsts, lasts
