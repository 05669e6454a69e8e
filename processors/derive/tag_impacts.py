"""``tag_impacts``: where each tag or incident reached, downstream along the edges.

A tag on a node reaches everything downstream of it (datasets, runs, models, deployments)
except through a masking transformation: a run declared masking (``masking`` = true, from
TransformationRun) is reached, but its outputs are not, and neither is an output whose every
column the run wrote through a masking transformation (OpenLineage column lineage). A tag put
on a masking run itself is about that run, so it does reach its outputs.

After each stored batch: tags it carried are walked again in full from their current state
(so a retraction turns their impacts inactive, a new window is copied to every impact), and
each new edge X -> Y whose X an active tag reached carries that tag on from Y. Only rows
that differ from what is stored are written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from lineage_processors.derive.state import Ranges, stored_from
from lineage_processors.derive.walks import (
    LARGE_QUERY,
    Adjacency,
    Edge,
    adjacency,
    fetch,
    insert,
    kind_of,
    new_edges,
    newly_failed,
    reach,
    strings,
)
from lineage_processors.store.connect import Store

IMPACT_COLUMNS = (
    "tag_node",
    "tag",
    "incident_id",
    "affected",
    "kind",
    "depth",
    "window_start",
    "window_end",
    "active",
)

TagKey = tuple[str, str, str]  # (tagged node, tag, incident id)


@dataclass(frozen=True)
class TagState:
    """A tag as it stands now: its window (epoch ms, None when open) and whether in force."""

    window_start: int | None
    window_end: int | None
    active: bool


@dataclass(frozen=True)
class Impact:
    depth: int
    window_start: int | None
    window_end: int | None
    active: bool


ImpactRow = tuple[str, str, str, str, str, int, int | None, int | None, int]


@dataclass(frozen=True)
class Masking:
    """What stops a tag: masking runs, and run outputs written only through masking."""

    runs: frozenset[str]
    outputs: frozenset[tuple[str, str]]  # (run, output) edges

    def follow(self, tag_node: str) -> Callable[[str, str], bool]:
        def step(src: str, dst: str) -> bool:
            if src == tag_node:
                return True
            return src not in self.runs and (src, dst) not in self.outputs

        return step


NO_MASKING = Masking(frozenset(), frozenset())


def impacts_of(adj: Adjacency, start: str, tag_node: str, masking: Masking) -> dict[str, int]:
    """Depth of every node a tag reaches downstream from ``start`` (itself at 0)."""
    return {n: hop.depth for n, hop in reach(adj, start, follow=masking.follow(tag_node)).items()}


def changed_rows(
    key: TagKey, wanted: Mapping[str, Impact], stored: Mapping[str, Impact]
) -> list[ImpactRow]:
    """Rows for the impacts of ``key`` that differ from what is stored (or are missing)."""
    rows: list[ImpactRow] = []
    for node, impact in sorted(wanted.items()):
        old = stored.get(node)
        if old is not None and old.active and impact.active and old.depth < impact.depth:
            impact = Impact(old.depth, impact.window_start, impact.window_end, impact.active)
        if old != impact:
            rows.append(
                (
                    *key,
                    node,
                    kind_of(node),
                    impact.depth,
                    impact.window_start,
                    impact.window_end,
                    int(impact.active),
                )
            )
    return rows


def refreshed(
    state: TagState, reached: Mapping[str, int], stored: Mapping[str, Impact]
) -> dict[str, Impact]:
    """Every impact of one tag as its current state makes it.

    In force: everything it reaches, with its window; what it had reached and reaches no
    more (through a run since said to have failed), inactive. Retracted: everything it had
    reached, inactive (kept, for audit).
    """
    if state.active:
        gone = {
            n: Impact(old.depth, old.window_start, old.window_end, False)
            for n, old in stored.items()
            if old.active and n not in reached
        }
        return gone | {
            n: Impact(d, state.window_start, state.window_end, True) for n, d in reached.items()
        }
    return {
        n: Impact(old.depth, state.window_start, state.window_end, False)
        for n, old in stored.items()
    }


# -- store ------------------------------------------------------------------------------------


def load_masking(store: Store, edges: Iterable[Edge]) -> Masking:
    """Which runs among ``edges``' sources mask, and which run outputs are all masked."""
    runs = sorted({e.src for e in edges if kind_of(e.src) == "run"})
    if not runs:
        return NO_MASKING
    masking_runs = {
        r[0]
        for r in store.query(
            f"SELECT node_id FROM properties FINAL WHERE node_id IN {strings(runs)} "
            "AND key = 'masking' AND value = 'true'",
            settings=LARGE_QUERY,
        ).result_rows
    }
    outputs = sorted({e.dst for e in edges if kind_of(e.src) == "run"})
    masked_outputs = {
        (f"run:{run_id}", dst)
        for run_id, dst in store.query(
            "SELECT run_id, dst_node FROM column_edges "
            f"WHERE dst_node IN {strings(outputs)} "
            f"AND run_id IN {strings([r.removeprefix('run:') for r in runs])} "
            "GROUP BY run_id, dst_node HAVING min(masking)",
            settings=LARGE_QUERY,
        ).result_rows
    }
    return Masking(frozenset(masking_runs), frozenset(masked_outputs))


def _null_ms(column: str) -> str:
    return f"if(isNull({column}), NULL, toUnixTimestamp64Milli(assumeNotNull({column})))"


def tag_states(store: Store, keys: list[TagKey]) -> dict[TagKey, TagState]:
    result = store.query(
        f"SELECT node_id, tag, incident_id, {_null_ms('window_start')}, "
        f"{_null_ms('window_end')}, active FROM tags FINAL "
        f"WHERE node_id IN {strings(sorted({k[0] for k in keys}))}",
        settings=LARGE_QUERY,
    )
    wanted = set(keys)
    return {
        (node, tag, incident): TagState(ws, we, bool(active))
        for node, tag, incident, ws, we, active in result.result_rows
        if (node, tag, incident) in wanted
    }


# The newest write of each impact. One tuple: argMax would skip a row whose Nullable
# argument is NULL, and an open window is NULL.
_LATEST = (
    f"argMax(tuple(depth, {_null_ms('window_start')}, {_null_ms('window_end')}, active), "
    "updated_at)"
)


def stored_impacts(store: Store, keys: list[TagKey]) -> dict[TagKey, dict[str, Impact]]:
    """The current impacts of each tag in ``keys``."""
    out: dict[TagKey, dict[str, Impact]] = {k: {} for k in keys}
    if not keys:
        return out
    result = store.query(
        f"SELECT tag_node, tag, incident_id, affected, {_LATEST} FROM tag_impacts "
        f"WHERE tag_node IN {strings(sorted({k[0] for k in keys}))} "
        "GROUP BY tag_node, tag, incident_id, affected",
        settings=LARGE_QUERY,
    )
    for node, tag, incident, affected, (depth, ws, we, active) in result.result_rows:
        if (node, tag, incident) in out:
            out[(node, tag, incident)][affected] = Impact(int(depth), ws, we, bool(active))
    return out


# Up to this many impact rows, a batch's sources are matched against all of them here
# rather than sent to the store: there are usually far fewer impacts than new edges.
READ_ALL_IMPACTS = 50_000


def active_impacts_at(store: Store, nodes: list[str]) -> dict[str, dict[TagKey, Impact]]:
    """For each of ``nodes``, the tags in force that reached it."""
    total = int(store.query("SELECT count() FROM tag_impacts").result_rows[0][0])
    if not total:
        return {}
    where = f"WHERE affected IN {strings(nodes)} " if total > READ_ALL_IMPACTS else ""
    result = store.query(
        f"SELECT affected, tag_node, tag, incident_id, {_LATEST} FROM tag_impacts {where}"
        "GROUP BY tag_node, tag, incident_id, affected",
        settings=LARGE_QUERY,
    )
    wanted = set(nodes)
    out: dict[str, dict[TagKey, Impact]] = {}
    for affected, node, tag, incident, (depth, ws, we, active) in result.result_rows:
        if active and affected in wanted:
            out.setdefault(affected, {})[(node, tag, incident)] = Impact(int(depth), ws, we, True)
    return out


def write_impacts(store: Store, wanted: Mapping[TagKey, Mapping[str, Impact]]) -> int:
    stored = stored_impacts(store, sorted(wanted))
    rows = [row for key, w in sorted(wanted.items()) for row in changed_rows(key, w, stored[key])]
    insert(store, "tag_impacts", IMPACT_COLUMNS, list(rows))
    return len(rows)


def refresh_tags(store: Store, keys: list[TagKey]) -> int:
    """Walk each of ``keys`` again from its current state; returns rows written."""
    if not keys:
        return 0
    states = tag_states(store, keys)
    stored = stored_impacts(store, keys)
    live = sorted({k[0] for k, s in states.items() if s.active})
    edges = fetch(store, live, "down") if live else []
    adj, masking = adjacency(edges, "down"), load_masking(store, edges)
    wanted = {}
    for key, state in states.items():
        reached = impacts_of(adj, key[0], key[0], masking) if state.active else {}
        wanted[key] = refreshed(state, reached, stored[key])
    return write_impacts(store, wanted)


def carried(
    new: Iterable[Edge],
    at: Mapping[str, Mapping[TagKey, Impact]],
    adj: Adjacency,
    masking: Masking,
) -> dict[TagKey, dict[str, Impact]]:
    """What tags in force at the sources of ``new`` edges reach through them.

    ``at[X]`` holds the tags in force at X with their impact there; ``adj`` is the graph
    downstream of the edges' destinations.
    """
    wanted: dict[TagKey, dict[str, Impact]] = {}
    for e in new:
        for key, impact in at.get(e.src, {}).items():
            if not masking.follow(key[0])(e.src, e.dst):
                continue
            into = wanted.setdefault(key, {})
            for node, depth in impacts_of(adj, e.dst, key[0], masking).items():
                total = impact.depth + 1 + depth
                old = into.get(node)
                if old is None or total < old.depth:
                    into[node] = Impact(total, impact.window_start, impact.window_end, True)
    return wanted


def extend_impacts(store: Store, new: list[Edge]) -> int:
    """Carry tags in force across ``new`` edges, from their sources onwards."""
    if not new:
        return 0
    at = active_impacts_at(store, sorted({e.src for e in new}))
    if not at:
        return 0
    crossing = [e for e in new if e.src in at]
    edges = fetch(store, {e.dst for e in crossing}, "down")
    masking = load_masking(store, [*edges, *crossing])
    return write_impacts(store, carried(crossing, at, adjacency(edges, "down"), masking))


def written_tags(store: Store, where: str) -> list[TagKey]:
    """The tags stored from the offsets ``where`` matches (see
    :func:`lineage_processors.derive.state.stored_from`)."""
    result = store.query(f"SELECT DISTINCT node_id, tag, incident_id FROM tags WHERE {where}")
    return sorted((node, tag, incident) for node, tag, incident in result.result_rows)


def propagate_tags(store: Store, ranges: Ranges) -> None:
    """Derived step: the tags stored from the offsets ``ranges``, and those that reached a
    run they say failed, walked again; the edges stored from them carrying tags on."""
    where = stored_from(ranges)
    # A tag that reached a run now said to have failed is walked again: through that run it
    # reaches nothing any more.
    through_failed = store.query(
        "SELECT DISTINCT tag_node, tag, incident_id FROM tag_impacts "
        f"WHERE affected IN ({newly_failed(store, where)})"
    ).result_rows
    keys: set[TagKey] = {(str(n), str(t), str(i)) for n, t, i in through_failed}
    refresh_tags(store, sorted(keys | set(written_tags(store, where))))
    # No tag anywhere, nothing to carry: the common case costs one count.
    if int(store.query("SELECT count() FROM tag_impacts").result_rows[0][0]):
        extend_impacts(store, new_edges(store, where))
