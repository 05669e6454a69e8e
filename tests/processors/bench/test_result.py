"""A bench's result: figures printed in the order they were added, their values aligned."""

from __future__ import annotations

from lineage_processors.bench.result import BenchResult


def test_figures_print_in_order_under_an_underlined_title() -> None:
    result = BenchResult("Ingest of 3 events")
    result.add("decode ceiling", "10/s")
    result.add("end to end", "5/s")
    result.add("a", "1")
    assert result.render().splitlines() == [
        "Ingest of 3 events",
        "------------------",
        "decode ceiling  10/s",
        "end to end      5/s",
        "a               1",
    ]
    assert result.rate == 0.0  # set only by a bench that has a headline rate
