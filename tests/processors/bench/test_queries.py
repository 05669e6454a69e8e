"""`lineage bench queries` at a small scale: builds its own store and times every question."""

from __future__ import annotations

from pathlib import Path

from lineage_processors.bench.data import EDGES_PER_PIPELINE, NODES_PER_PIPELINE, pipeline
from lineage_processors.settings import WorkerSettings
from tests.conftest import run_cli


def test_pipeline_shape_has_its_nodes_and_edges() -> None:
    shape = pipeline()
    assert len(shape.edges) == EDGES_PER_PIPELINE
    assert len({(s, d) for s, d, _, _ in shape.edges}) == EDGES_PER_PIPELINE
    slots = {s for e in shape.edges for s in e[:2]}
    assert slots == set(range(NODES_PER_PIPELINE))
    # The model trained by run 94 comes from every dataset version and the source.
    assert shape.ancestors[96][94] == 1 and 0 in shape.ancestors[96]


def test_bench_queries_builds_its_own_store_and_reports_each_question(tmp_path: Path) -> None:
    settings = WorkerSettings(state_dir=tmp_path / "state")
    out = run_cli(settings, "bench", "queries", "--scale", "0.001", "--repeats", "3", timeout=600)
    assert out.returncode == 0, out.stderr
    assert "building 1,000 nodes, 10,000 edges, 100,000 predictions" in out.stdout
    assert "Queries on 1,000 nodes, 10,000 edges, 100,000 predictions (3 runs each)" in out.stdout
    for name in ("upstream", "downstream", "impact", "subject", "attribution"):
        assert any(
            line.startswith(f"{name} ") and "median" in line and "p95" in line
            for line in out.stdout.splitlines()
        ), name
    # Its own store, not the user's; a second run reuses it.
    assert (tmp_path / "state" / "bench" / "queries-x0.001" / "chdb").is_dir()
    assert not (tmp_path / "state" / "chdb").exists()
    again = run_cli(settings, "bench", "queries", "--scale", "0.001", "--repeats", "1")
    assert again.returncode == 0, again.stderr
    assert "reusing the synthetic store" in again.stdout
