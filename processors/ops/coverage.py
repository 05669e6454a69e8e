"""How complete the stored lineage is, measured from the store with one aggregate query.

- predictions attributed to a training run, and those still waiting (the backlog);
- model versions whose upstream lineage reaches a source system (``model_upstream``);
- transformation runs (runs of a job: ``job --job--> run``) that recorded parameters;
- edges whose source or destination is not a known node.

Each part reads along a sort key or a skip index, so the query stays cheap as tables grow;
the unknown-node check is the dearest (every edge against the set of node ids) and is why
coverage runs on its own, slower timer (``LINEAGE_COVERAGE_INTERVAL``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lineage_processors.store.connect import Store

COVERAGE_SQL = """
SELECT
    (SELECT count() FROM inferences) AS predictions,
    -- The skip index on `resolved` lets this read only granules holding unresolved rows.
    (SELECT count() FROM inferences WHERE resolved = 0) AS unresolved,
    -- Node ids start with their kind and nodes sort by id: a key range, not a scan.
    (SELECT uniqExact(node_id) FROM nodes WHERE node_id LIKE 'model:%') AS models,
    (SELECT uniqExact(model_node) FROM model_upstream WHERE ancestor_kind = 'source')
        AS models_reaching_source,
    (SELECT uniqExact(dst) FROM edges WHERE relation = 'job') AS runs,
    (SELECT uniqExact(node_id) FROM properties
        WHERE node_id LIKE 'run:%' AND startsWith(key, 'param.')
          AND node_id IN (SELECT dst FROM edges WHERE relation = 'job')) AS runs_with_parameters,
    (SELECT count() FROM edges
        WHERE src NOT IN (SELECT node_id FROM nodes)
           OR dst NOT IN (SELECT node_id FROM nodes)) AS edges_to_unknown_nodes
"""


def share(part: int, whole: int) -> float:
    """``part / whole``, and 1 when there is nothing to cover (nothing is missing)."""
    return min(1.0, part / whole) if whole else 1.0


@dataclass(frozen=True)
class Coverage:
    """Shares between 0 and 1, and counts."""

    inferences_attributed: float
    unresolved_inferences: int
    models_reaching_source: float
    runs_with_parameters: float
    edges_to_unknown_nodes: int

    @classmethod
    def from_counts(
        cls,
        predictions: int,
        unresolved: int,
        models: int,
        models_reaching_source: int,
        runs: int,
        runs_with_parameters: int,
        edges_to_unknown_nodes: int,
    ) -> Coverage:
        return cls(
            inferences_attributed=share(predictions - unresolved, predictions),
            unresolved_inferences=unresolved,
            models_reaching_source=share(models_reaching_source, models),
            runs_with_parameters=share(runs_with_parameters, runs),
            edges_to_unknown_nodes=edges_to_unknown_nodes,
        )


def measure_coverage(store: Store) -> Coverage:
    """Coverage of the lineage in ``store`` now. Raises StoreError if the store refuses."""
    [row] = store.query(COVERAGE_SQL).result_rows
    return Coverage.from_counts(*(int(v) for v in row))
