"""Where data stops carrying what it came from: masking and anonymising steps.

As for tags and incidents (:mod:`lineage_processors.derive.tag_impacts`), a walk downstream passes
a run declared masking (``masking`` = true) but not its outputs, nor an output whose every column
the run wrote through a masking transformation; a walk that starts at a masking run is about
that run and does reach its outputs. ``lineage impact`` and the derived datasets of
``lineage subject`` follow these rules.
"""

from __future__ import annotations

from collections.abc import Iterable

from lineage_processors.answers.runner import QueryRunner
from lineage_processors.answers.walk import Step
from lineage_processors.derive.tag_impacts import NO_MASKING, Masking
from lineage_processors.derive.walks import strings


def load_masking(runner: QueryRunner, edges: Iterable[Step]) -> Masking:
    """Which runs among the sources of downstream ``edges`` mask, and which of their outputs
    were written only through masking columns, in one query."""
    steps = [s for s in edges if s.near.startswith("run:")]
    runs = sorted({s.near for s in steps})
    if not runs:
        return NO_MASKING
    outputs = sorted({s.far for s in steps})
    table = runner.run(
        "SELECT node_id, '' FROM properties "
        f"WHERE node_id IN {strings(runs)} AND key = 'masking' "
        "GROUP BY node_id HAVING argMax(value, event_time) = 'true' "
        "UNION ALL SELECT concat('run:', run_id), dst_node FROM column_edges "
        f"WHERE dst_node IN {strings(outputs)} "
        f"AND run_id IN {strings(r.removeprefix('run:') for r in runs)} "
        "GROUP BY run_id, dst_node HAVING min(masking)"
    )
    masking_runs = frozenset(run for run, output in table.rows if not output)
    masked = frozenset((run, output) for run, output in table.rows if output)
    return Masking(masking_runs, masked)


def unmasked_reach(
    edges: Iterable[Step], starts: Iterable[str], masking: Masking
) -> dict[str, int]:
    """Depth of every node a downstream walk from ``starts`` reaches without passing a
    masking step (the starts themselves at 0), over the ``edges`` the walk met."""
    first = set(starts)
    out: dict[str, list[str]] = {}
    for s in edges:
        out.setdefault(s.near, []).append(s.far)
    depth = dict.fromkeys(first, 0)
    frontier = sorted(first)
    level = 0
    while frontier:
        level += 1
        nxt = []
        for node in frontier:
            stops = node not in first and node in masking.runs
            for far in out.get(node, ()):
                if far in depth or stops or (node not in first and (node, far) in masking.outputs):
                    continue
                depth[far] = level
                nxt.append(far)
        frontier = nxt
    return depth
