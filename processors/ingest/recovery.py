"""Exactly once across crashes: leave out what an earlier run already stored.

Offsets are committed only after a batch is stored, so a worker that dies between the two
reads those records again. The batch it reads then need not be the batch it wrote (another
size, another mix of partitions), so insert deduplication tokens alone cannot recognise it.
Every row carries the Kafka record it came from instead, and whenever a partition is read
from somewhere other than where this process left it (start-up, a rebalance), we ask each
table what it already holds from that offset on, and write only the rest.

What "holds" means depends on the table:

- A table without a partition key takes each insert whole, as one part, and inserts of one
  partition's records happened in offset order. So every record up to the highest offset it
  holds is in it, even the ones whose rows a ReplacingMergeTree collapsed onto another row
  of the same key: those must not be written again. A merge may also drop the rows of the
  highest offsets (an edge keeps its earliest statement, which may come from an older
  record), so the highest offset counts from every table written after this one too: the
  sink writes a batch's tables in a fixed order, so a later table holding a record means
  this one took the insert that held it.
- A partitioned table (by month) may have taken only some months of an insert cut short by
  a crash. Its rows are one per event or prediction, so we count them per record: all there
  is done, none there is to write, some there is a partial record, deleted and written whole.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from lineage_processors.ingest.reference.mapping import TABLES, Origin, RowBatch
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import SOURCE_COLUMNS, WRITE_ORDER

log = logging.getLogger(__name__)

Partition = tuple[str, int]


@dataclass
class Stored:
    """What the store already holds of one partition from some offset on."""

    until: int = -1  # the highest offset found in any table
    highest: dict[str, int] = field(default_factory=dict)  # unpartitioned table -> offset
    rows: dict[str, dict[int, int]] = field(default_factory=dict)  # partitioned: offset -> rows

    def holds(self, table: str, offset: int, rows: int) -> bool:
        if table in self.highest:
            return offset <= self.highest[table]
        return self.rows.get(table, {}).get(offset, 0) >= rows


def partitioned_tables(store: Store) -> set[str]:
    """The tables of the store that have a partition key."""
    result = store.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND partition_key != ''"
    )
    return {str(r[0]) for r in result.result_rows}


def find_stored(
    store: Store, starts: dict[Partition, int], partitioned: set[str]
) -> dict[Partition, Stored]:
    """Ask every table what it holds of each partition from ``starts[partition]`` on."""
    found = {tp: Stored() for tp in starts}
    for table in TABLES:
        t, p, o = SOURCE_COLUMNS[table]
        # One condition per partition, so the minmax index on the offset skips every part
        # older than where that partition restarts, even when partitions are far apart.
        params: dict[str, object] = {}
        where = []
        for i, ((topic, partition), offset) in enumerate(sorted(starts.items())):
            where.append(f"({t} = {{t{i}:String}} AND {p} = {partition} AND {o} >= {offset})")
            params[f"t{i}"] = topic
        if table in partitioned:
            sql = f"SELECT {t}, {p}, {o}, count() FROM {table} WHERE {' OR '.join(where)} "
            sql += f"GROUP BY {t}, {p}, {o}"
        else:
            sql = f"SELECT {t}, {p}, max({o}), 0 FROM {table} WHERE {' OR '.join(where)} "
            sql += f"GROUP BY {t}, {p}"
        for topic, partition, offset, count in store.query(sql, params).result_rows:
            s = found[(topic, int(partition))]
            if table in partitioned:
                s.rows.setdefault(table, {})[int(offset)] = int(count)
            else:
                s.highest[table] = int(offset)
            s.until = max(s.until, int(offset))
    for s in found.values():
        s.highest = held_through_later_tables(s, partitioned)
    return found


def held_through_later_tables(s: Stored, partitioned: set[str]) -> dict[str, int]:
    """Per unpartitioned table, the highest offset it or any table written after it holds."""
    highest: dict[str, int] = {}
    later = -1
    for table in reversed(WRITE_ORDER):
        if table in partitioned:
            later = max(later, max((o for o, n in s.rows.get(table, {}).items() if n), default=-1))
            continue
        later = max(later, s.highest.get(table, -1))
        if later >= 0:
            highest[table] = later
    return highest


def repair_partial(store: Store, batch: RowBatch, stored: dict[Partition, Stored]) -> bool:
    """Delete the rows of records a partitioned table holds only part of, so they are
    written whole. Returns whether anything was deleted."""
    deleted = False
    for table_no, table in enumerate(TABLES):
        t, p, o = SOURCE_COLUMNS[table]
        for source in batch.sources:
            origin = source.origin
            s = stored.get((origin.topic, origin.partition))
            if s is None or table not in s.rows:
                continue
            want = source.rows[table_no]
            have = s.rows[table].get(origin.offset, 0)
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
                s.rows[table][origin.offset] = 0
                deleted = True
    return deleted


class Recovery:
    """Per partition: where this process expects to read next, and what is already stored."""

    def __init__(self) -> None:
        self.next_offset: dict[Partition, int] = {}
        self.stored: dict[Partition, Stored] = {}
        self._partitioned: set[str] | None = None

    def forget(self, partitions: Sequence[Partition]) -> None:
        """Partitions assigned anew: someone else may have written them meanwhile."""
        for tp in partitions:
            self.next_offset.pop(tp, None)
            self.stored.pop(tp, None)

    def starts(self, firsts: dict[Partition, int]) -> dict[Partition, int]:
        """Partitions of a batch that do not continue where this process left them."""
        return {tp: o for tp, o in firsts.items() if self.next_offset.get(tp) != o}

    def clear(self, store: Store, firsts: dict[Partition, int]) -> bool:
        """Whether the store holds nothing from where a batch starts on, so the batch may be
        written whole; runs on the store's thread."""
        return not self._relevant(store, firsts)

    def filter(self, store: Store, batch: RowBatch, firsts: dict[Partition, int]) -> RowBatch:
        """``batch`` less what the store already holds; runs on the store's thread."""
        relevant = self._relevant(store, firsts)
        if not relevant:
            return batch
        repaired = repair_partial(store, batch, relevant)

        def held(table: str, origin: Origin, rows: int) -> bool:
            s = relevant.get((origin.topic, origin.partition))
            return s is not None and s.holds(table, origin.offset, rows)

        kept = batch.without(held)
        if repaired:
            # The repaired records' rows were deleted: their insert must not carry a token
            # an earlier run used for the same records, or ClickHouse would drop it.
            kept.salt = uuid.uuid4().hex
        return kept

    def _relevant(self, store: Store, firsts: dict[Partition, int]) -> dict[Partition, Stored]:
        """What the store holds of the batch's partitions from where it starts on."""
        starts = self.starts(firsts)
        if starts:
            if self._partitioned is None:
                self._partitioned = partitioned_tables(store)
            for tp, s in find_stored(store, starts, self._partitioned).items():
                if s.until >= 0:
                    log.info(
                        "%s:%d read again from offset %d: records up to %d are stored already",
                        tp[0],
                        tp[1],
                        starts[tp],
                        s.until,
                    )
                    self.stored[tp] = s
                else:
                    self.stored.pop(tp, None)
        return {tp: s for tp, s in self.stored.items() if tp in firsts and firsts[tp] <= s.until}

    def advance(self, lasts: dict[Partition, int]) -> None:
        """A batch is stored: its partitions continue after ``lasts``."""
        for tp, last in lasts.items():
            self.next_offset[tp] = last + 1
            s = self.stored.get(tp)
            if s is not None and last >= s.until:
                del self.stored[tp]  # past everything an earlier run wrote
