"""Exactly once across crashes: leave out what an earlier run already stored.

Offsets are committed only after a batch is stored, so a worker that dies between the two
reads those records again. The batch it reads then need not be the batch it wrote (another
size, another mix of partitions), so insert deduplication tokens alone cannot recognise it.
Every row carries the Kafka record it came from instead, and whenever a partition is read
from somewhere other than where this process left it (start-up, a rebalance), we ask each
table which records from that offset on it already holds, and write only the rest.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from processors.mapping import TABLES, RowBatch
from processors.sinks.clickhouse import SOURCE_COLUMNS
from processors.store.connect import Store

log = logging.getLogger(__name__)

Partition = tuple[str, int]


@dataclass
class Stored:
    """What the store already holds of one partition from some offset on."""

    until: int = -1  # the highest offset found in any table
    rows: dict[str, dict[int, int]] = field(default_factory=dict)  # table -> offset -> rows


def find_stored(store: Store, starts: dict[Partition, int]) -> dict[Partition, Stored]:
    """Ask every table which records at or after ``starts[partition]`` it holds, and how many
    rows of each."""
    found = {tp: Stored() for tp in starts}
    pairs = ", ".join(f"('{t}', {p})" for t, p in starts)
    low = min(starts.values())
    for table in TABLES:
        t, p, o = SOURCE_COLUMNS[table]
        result = store.query(
            f"SELECT {t}, {p}, {o}, count() FROM {table} "
            f"WHERE ({t}, {p}) IN ({pairs}) AND {o} >= {{low:UInt64}} GROUP BY {t}, {p}, {o}",
            {"low": low},
        )
        for topic, partition, offset, count in result.result_rows:
            tp = (topic, int(partition))
            if offset < starts[tp]:
                continue
            s = found[tp]
            s.rows.setdefault(table, {})[int(offset)] = int(count)
            s.until = max(s.until, int(offset))
    return found


def repair_partial(store: Store, batch: RowBatch, stored: dict[Partition, Stored]) -> bool:
    """Delete the rows of records a table holds only part of, so they are written whole.

    An insert is atomic per ClickHouse partition; one that spans months can be cut short
    between them. Rows a merge collapsed onto a newer row count as partial too, which is
    harmless: they are deleted and written again. Returns whether anything was deleted.
    """
    deleted = False
    for table_no, table in enumerate(TABLES):
        t, p, o = SOURCE_COLUMNS[table]
        for source in batch.sources:
            origin = source.origin
            s = stored.get((origin.topic, origin.partition))
            want = source.rows[table_no]
            have = s.rows.get(table, {}).get(origin.offset, 0) if s else 0
            if 0 < have < want:
                log.warning(
                    "%s holds %d of %d rows from %s:%d@%d; writing them again",
                    table,
                    have,
                    want,
                    origin.topic,
                    origin.partition,
                    origin.offset,
                )
                store.command(
                    f"DELETE FROM {table} WHERE {t} = {{t:String}} AND {p} = {{p:UInt32}} "
                    f"AND {o} = {{o:UInt64}}",
                    {"t": origin.topic, "p": origin.partition, "o": origin.offset},
                    settings={"lightweight_mutation_projection_mode": "rebuild"},
                )
                assert s is not None
                s.rows[table][origin.offset] = 0
                deleted = True
    return deleted


class Recovery:
    """Per partition: where this process expects to read next, and what is already stored."""

    def __init__(self) -> None:
        self.next_offset: dict[Partition, int] = {}
        self.stored: dict[Partition, Stored] = {}

    def forget(self, partitions: Sequence[Partition]) -> None:
        """Partitions assigned anew: someone else may have written them meanwhile."""
        for tp in partitions:
            self.next_offset.pop(tp, None)
            self.stored.pop(tp, None)

    def starts(self, firsts: dict[Partition, int]) -> dict[Partition, int]:
        """Partitions of a batch that do not continue where this process left them."""
        return {tp: o for tp, o in firsts.items() if self.next_offset.get(tp) != o}

    def filter(self, store: Store, batch: RowBatch, firsts: dict[Partition, int]) -> RowBatch:
        """``batch`` less what the store already holds; runs on the store's thread."""
        starts = self.starts(firsts)
        if starts:
            for tp, s in find_stored(store, starts).items():
                if s.until >= 0:
                    log.info(
                        "%s:%d read again from offset %d: %d records up to %d are stored already",
                        tp[0],
                        tp[1],
                        starts[tp],
                        len({o for rows in s.rows.values() for o in rows}),
                        s.until,
                    )
                    self.stored[tp] = s
                else:
                    self.stored.pop(tp, None)
        if not self.stored:
            return batch
        relevant = {
            tp: s for tp, s in self.stored.items() if tp in firsts and firsts[tp] <= s.until
        }
        if not relevant:
            return batch
        repaired = repair_partial(store, batch, relevant)
        held: dict[str, dict[tuple[str, int, int], int]] = {}
        for (topic, partition), s in relevant.items():
            for table, offsets in s.rows.items():
                into = held.setdefault(table, {})
                for offset, count in offsets.items():
                    into[(topic, partition, offset)] = count
        kept = batch.without(held)
        if repaired:
            # The repaired records' rows were deleted: their insert must not carry a token
            # an earlier run used for the same records, or ClickHouse would drop it.
            kept.salt = uuid.uuid4().hex
        return kept

    def advance(self, lasts: dict[Partition, int]) -> None:
        """A batch is stored: its partitions continue after ``lasts``."""
        for tp, last in lasts.items():
            self.next_offset[tp] = last + 1
            s = self.stored.get(tp)
            if s is not None and last >= s.until:
                del self.stored[tp]  # past everything an earlier run wrote
