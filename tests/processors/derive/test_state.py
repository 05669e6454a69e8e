"""Derived state on a timer, against a real chDB store: each run's steps get exactly the rows
stored since the last run, read back by offset, and a new worker takes up where the last
one's steps stopped."""

from __future__ import annotations

import pytest

from lineage_processors.derive.state import Derivation, Ranges, merged, split, stored_from, union
from lineage_processors.store.connect import Store
from lineage_processors.store.sink import ClickHouseSink
from tests.processors.ingest.test_recovery import batch_of


class Seen:
    """A step that records what it was given: how many rows of three tables its condition
    matches, and the condition."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.runs: list[tuple[int, int, int, str]] = []

    def __call__(self, ranges: Ranges) -> None:
        where = stored_from(ranges)
        counts = [
            int(self.store.query(f"SELECT count() FROM {t} WHERE {where}").result_rows[0][0])
            for t in ("edges", "model_training", "deployments")
        ]
        self.runs.append((*counts, where))


def store_offsets(store: Store, offsets: range, partition: int = 0) -> None:
    batch, _ = batch_of(offsets, partition)
    ClickHouseSink(store).write(batch)


def test_merged_widens_each_partition_to_cover_every_batch() -> None:
    ranges = merged({}, {("t", 0): 5}, {("t", 0): 9})
    ranges = merged(ranges, {("t", 0): 10, ("t", 1): 3}, {("t", 0): 19, ("t", 1): 4})
    assert ranges == {("t", 0): (5, 19), ("t", 1): (3, 4)}


def test_union_covers_both_sets_of_ranges() -> None:
    a = {("t", 0): (5, 9), ("t", 1): (3, 4)}
    b = {("t", 0): (20, 29), ("u", 0): (1, 1)}
    assert union(a, b) == {("t", 0): (5, 29), ("t", 1): (3, 4), ("u", 0): (1, 1)}
    assert union(a, {}) == a


def test_split_gives_each_partition_an_even_share_and_keeps_the_rest() -> None:
    ranges = {("t", 0): (100, 199), ("t", 1): (5, 9)}
    now, later = split(ranges, 20)
    assert now == {("t", 0): (100, 109), ("t", 1): (5, 9)}
    assert later == {("t", 0): (110, 199)}
    assert split(ranges, 1000) == (ranges, {})
    assert split({("t", 0): (0, 9)}, 0) == ({("t", 0): (0, 0)}, {("t", 0): (1, 9)})
    assert split({}, 10) == ({}, {})


def test_stored_from_gives_the_offset_condition_of_its_ranges() -> None:
    where = stored_from({("t", 1): (3, 4), ("t", 0): (5, 19)})
    assert where == (
        "((src_topic = 't' AND src_partition = 0 AND src_offset BETWEEN 5 AND 19) OR "
        "(src_topic = 't' AND src_partition = 1 AND src_offset BETWEEN 3 AND 4))"
    )


def test_a_run_reads_back_the_rows_stored_since_the_last_one(store: Store) -> None:
    seen = Seen(store)
    derivation = Derivation(store, [seen], topics=["events"])
    store_offsets(store, range(0, 10))
    derivation.stored({("events", 0): 0}, {("events", 0): 9})
    store_offsets(store, range(10, 15))
    derivation.stored({("events", 0): 10}, {("events", 0): 14})
    assert derivation.run() == 15
    # Each TrainingRun makes two edges (dataset -> run -> model) and a model_training row.
    [(edges, trained, deployed, where)] = seen.runs
    assert (edges, trained, deployed) == (30, 15, 0)
    assert "src_offset BETWEEN 0 AND 14" in where
    assert derivation.run() == 0  # nothing new: no steps
    assert len(seen.runs) == 1
    store_offsets(store, range(15, 17))
    derivation.stored({("events", 0): 15}, {("events", 0): 16})
    assert derivation.run() == 2
    assert seen.runs[1][:3] == (4, 2, 0)


def test_a_new_worker_takes_up_where_the_steps_stopped(store: Store) -> None:
    first = Derivation(store, [Seen(store)], topics=["events"])
    store_offsets(store, range(0, 10))
    first.stored({("events", 0): 0}, {("events", 0): 9})
    first.run()
    # Stored (and committed) by a worker that died before its steps ran: offsets 10..19 of
    # partition 0, and partition 1, which no step has seen.
    store_offsets(store, range(10, 20))
    store_offsets(store, range(0, 4), partition=1)
    seen = Seen(store)
    assert Derivation(store, [seen], topics=["events"]).run() == 14
    [(edges, trained, _, where)] = seen.runs
    assert (edges, trained) == (28, 14)
    assert "src_partition = 0 AND src_offset BETWEEN 10 AND 19" in where
    assert "src_partition = 1 AND src_offset BETWEEN 0 AND 3" in where


def test_a_partition_taken_over_is_derived_from_its_progress_not_from_the_new_rows(
    store: Store,
) -> None:
    """Pass: worker A derives offsets 0..9 of partition 0, stores 10..19 and dies before its
    next run; worker B, running since before (it resumed when nothing was pending), is
    given the partition and stores 20..24: its run covers 10..24, not only its own rows."""
    a = Derivation(store, [Seen(store)], topics=["events"])
    b_seen = Seen(store)
    b = Derivation(store, [b_seen], topics=["events"])
    assert b.run() == 0  # B is up and idle: its start-up catching up is behind it
    store_offsets(store, range(0, 10))
    a.stored({("events", 0): 0}, {("events", 0): 9})
    a.run()
    store_offsets(store, range(10, 20))  # A stores, commits, dies: never derived
    store_offsets(store, range(20, 25))
    b.stored({("events", 0): 20}, {("events", 0): 24})
    assert b.run() == 15
    [(edges, trained, _, where)] = b_seen.runs
    assert (edges, trained) == (30, 15)
    assert "src_partition = 0 AND src_offset BETWEEN 10 AND 24" in where


def test_a_failed_step_keeps_its_ranges_for_the_next_run(store: Store) -> None:
    calls = []

    def flaky(ranges: Ranges) -> None:
        calls.append(stored_from(ranges))
        if len(calls) == 1:
            raise RuntimeError("store refused")

    derivation = Derivation(store, [flaky], topics=["events"])
    derivation.resumed = True  # nothing stored before this test
    store_offsets(store, range(0, 3))
    derivation.stored({("events", 0): 0}, {("events", 0): 2})
    with pytest.raises(RuntimeError):
        derivation.run()
    store_offsets(store, range(3, 5))
    derivation.stored({("events", 0): 3}, {("events", 0): 4})
    assert derivation.run() == 5
    assert "src_offset BETWEEN 0 AND 4" in calls[1]


def test_a_worker_catching_up_derives_in_bounded_runs_that_cover_everything(
    store: Store,
) -> None:
    # Stored by a worker that stopped before its steps ran: 30 offsets of partition 0, 6 of
    # partition 1.
    store_offsets(store, range(0, 30))
    store_offsets(store, range(0, 6), partition=1)
    seen = Seen(store)
    derivation = Derivation(store, [seen], topics=["events"], max_records=20)
    covered = [derivation.run()]
    assert derivation.behind
    while derivation.behind:
        covered.append(derivation.run())
    assert covered == [16, 20]  # 10 a partition while both have offsets left, then 20
    assert not derivation.behind
    assert derivation.run() == 0
    # Every row went to exactly one run: each TrainingRun makes two edges.
    assert sum(edges for edges, _, _, _ in seen.runs) == 2 * 36
    assert sum(trained for _, trained, _, _ in seen.runs) == 36
    # Progress is kept run by run: a new worker has nothing left to take up.
    assert Derivation(store, [Seen(store)], topics=["events"]).run() == 0
