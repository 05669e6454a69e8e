"""Impact against the lineage of conftest.py, with exact expected answers."""

from __future__ import annotations

from lineage_processors.answers.impact import impact
from lineage_processors.answers.inputs import parse_time
from tests.processors.answers.conftest import ANON, MODEL1, MODEL2, R, Stored, iso


def test_impact_of_an_incident_stops_at_masking_and_counts_its_window(stored: Stored) -> None:
    answer = impact(stored.runner, "incident:INC-Q")
    reached = answer.section("reached").rows
    assert sorted(r[1] for r in reached) == sorted(
        [
            "source:q/crm",
            "dataset:q/raw@v1",
            R["clean"],
            R["clean2"],
            "dataset:q/clean@v1",
            "dataset:q/clean@v2",
            R["t1"],
            R["t2"],
            R["anon"],
            MODEL1,
            MODEL2,
            "deployment:prod/q",
        ]
    )
    assert ANON not in {r[1] for r in reached} and "dataset:q/anon@v1" not in {
        r[1] for r in reached
    }
    # q-p1 and q-p2 fall in [8h, 20h); q-p3 is before, q-p5 after, q-p4 behind masking.
    assert answer.section("predictions").rows == [[2, 1, iso(8), iso(9), iso(8), iso(20)]]
    assert answer.section("by model version and output").rows == [
        [MODEL1, "yes", 1, 1, iso(8), iso(8)],
        [MODEL2, "no", 1, 1, iso(9), iso(9)],
    ]


def test_impact_of_a_node_stops_at_masking_and_counts_the_window_asked(stored: Stored) -> None:
    everything = impact(stored.runner, "source:q/crm")
    reached = {r[1]: r[0] for r in everything.section("reached").rows}
    # The anonymising run is reached; what it wrote, and the model trained on that, are not.
    assert reached[R["anon"]] == 4 and reached["deployment:prod/q"] == 6
    assert "dataset:q/anon@v1" not in reached and ANON not in reached
    assert len(reached) == 11
    # q-p4, made by the model trained on anonymised data, is not counted.
    assert everything.section("predictions").rows[0][:2] == [4, 2]
    window = impact(
        stored.runner, "source:q/crm", parse_time("--since", iso(8)), parse_time("--until", iso(10))
    )
    assert window.section("by model version and output").rows == [
        [MODEL1, "yes", 1, 1, iso(8), iso(8)],
        [MODEL2, "no", 1, 1, iso(9), iso(9)],
    ]
    late = impact(stored.runner, "dataset:q/holdout@v1", parse_time("--since", iso(30)))
    assert late.section("predictions").rows[0][0] == 0
    assert "no predictions were made in the window by what it reached" in late.notes


def test_impact_of_the_masking_run_itself_reaches_its_outputs(stored: Stored) -> None:
    answer = impact(stored.runner, R["anon"])
    assert answer.section("reached").rows == [
        [1, "dataset:q/anon@v1", "dataset"],
        [2, R["anon-train"], "run"],
        [3, ANON, "model"],
    ]
    assert answer.section("by model version and output").rows == [
        [ANON, "yes", 1, 1, iso(10), iso(10)]
    ]


def test_impact_view_agrees_with_the_command(stored: Stored) -> None:
    for node in ("source:q/crm", R["anon"], "dataset:q/clean@v2"):
        rows = impact(stored.runner, node).section("by model version and output").rows
        command = [[r[0], r[1], r[2], r[4], r[5]] for r in rows]  # the view splits people
        view = stored.runner.run(  # by deployment too
            "SELECT model_version, output, sum(predictions), "
            "min(first), max(last) FROM impact_of(node = {n:String}, "
            "since = '1970-01-01', until = '2299-01-01') GROUP BY model_version, output "
            "ORDER BY model_version, output",
            {"n": node},
        )
        assert view.rows == command, node
