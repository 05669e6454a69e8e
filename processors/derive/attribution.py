"""Attribution of each prediction to the training run of the model version that made it.

ClickHouse attributes a prediction as it is inserted: the ``served_model``, ``training_run``
and ``resolved`` columns of ``inferences`` default to lookups in two dictionaries, the model
version behind a deployment at a time (``deployment_models``) and the newest completed
training run of a model version (``model_training_dict``); see migration 5. No Python runs
per prediction. This module keeps those dictionaries fresh and rewrites the predictions
stored before their lineage arrived, without reading Kafka again:

- After a batch that wrote ``model_training`` or ``deployments`` rows, the dictionaries are
  reloaded and the predictions of those model versions and deployments whose stored
  attribution differs from what the dictionaries now say are rewritten: the unresolved ones,
  and resolved ones whose version was since trained again.
- A reload reads its whole table (about 1.5 s at a million model versions), so reloads may
  take at most 1/RELOAD_SHARE of the derive thread; a batch arriving sooner leaves its keys
  pending for the periodic :meth:`Attribution.sweep`.
- The sweep also checks the unresolved predictions of settled keys again for
  GRACE_SECONDS: one another writer inserted while the dictionary was being reloaded got
  the old answer. Its first run looks at every unresolved prediction whose lineage is
  stored, for a worker stopped between a write and this step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lineage_processors.derive.state import Ranges, stored_from, union
from lineage_processors.derive.walks import LARGE_QUERY, strings
from lineage_processors.store.connect import Store

log = logging.getLogger(__name__)

DICTIONARIES = ("deployment_models", "model_training_dict")
# Reloads may take at most a fifth of the derive thread's time.
RELOAD_SHARE = 5
# How long a settled key is checked again, for predictions racing its reload.
GRACE_SECONDS = 30.0
# How often the worker sweeps.
SWEEP_SECONDS = 2.0

# What the column defaults of migration 5 compute, as the dictionaries say now.
SERVED = (
    "if(model_node != '', model_node, "
    "dictGetOrDefault('deployment_models', 'model_node', deployment, event_time, ''))"
)
TRAINED = f"dictGetOrDefault('model_training_dict', 'training_run', {SERVED}, '')"


def _member(column: str, named: set[str], subquery: str) -> str:
    parts = [f"{column} IN {strings(sorted(named))}"] if named else []
    if subquery:
        parts.append(f"{column} IN ({subquery})")
    return "(" + " OR ".join(parts) + ")" if parts else "0"


@dataclass
class Keys:
    """Model versions and deployments whose lineage changed: named, or as the rows stored
    from some offsets, which the store finds faster than it parses tens of thousands of
    names. Offsets of many runs are kept as one range per partition: one condition, however
    many runs, where a condition per run made the sweep read the same rows again and again."""

    models: set[str] = field(default_factory=set)
    deployments: set[str] = field(default_factory=set)
    ranges: Ranges = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.models or self.deployments or self.ranges)

    def update(self, other: Keys) -> None:
        self.models |= other.models
        self.deployments |= other.deployments
        self.ranges = union(self.ranges, other.ranges)

    def stale(self) -> str:
        """Their predictions whose stored attribution is out of date.

        Both arms follow the sort key of inferences: model first, and deployment-only
        predictions sit under model '' sorted by deployment.
        """
        stored = stored_from(self.ranges) if self.ranges else ""
        models = f"SELECT model_node FROM model_training WHERE {stored}" if stored else ""
        deployments = f"SELECT deployment FROM deployments WHERE {stored}" if stored else ""
        return (
            f"({_member('model_node', self.models, models)} OR (model_node = '' AND "
            f"({_member('deployment', self.deployments, deployments)} "
            f"OR {_member('served_model', self.models, models)}))) "
            f"AND (served_model != {SERVED} OR training_run != {TRAINED})"
        )


def reload_due(now: float, reloaded_at: float, reload_seconds: float) -> bool:
    """Whether a reload now keeps reloads within their share of the derive thread."""
    return now - reloaded_at >= RELOAD_SHARE * reload_seconds


def unexpired(recent: list[tuple[float, Keys]], now: float) -> list[tuple[float, Keys]]:
    """The keys settled at most GRACE_SECONDS ago."""
    return [(at, keys) for at, keys in recent if now - at <= GRACE_SECONDS]


class Attribution:
    """Keeps predictions attributed; every method runs on one thread, the derive thread."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self.pending = Keys()
        self.recent: list[tuple[float, Keys]] = []
        self.reloaded_at = float("-inf")
        self.reload_seconds = 0.0
        self.swept = False
        self.rewritten = 0  # predictions rewritten, for logs

    def after_write(self, ranges: Ranges) -> None:
        """Derived step: attribute what the training and deployment lineage stored from the
        offsets ``ranges`` makes attributable."""
        where = stored_from(ranges)
        # Most runs of graph events hold neither: no reload for them.
        changed = self.store.query(
            f"SELECT (SELECT count() FROM model_training WHERE {where}) + "
            f"(SELECT count() FROM deployments WHERE {where})"
        )
        if not int(changed.result_rows[0][0]):
            return
        self.pending.update(Keys(ranges=ranges))
        if reload_due(self.clock(), self.reloaded_at, self.reload_seconds):
            self.settle()

    def sweep(self) -> None:
        """Periodic: settle pending keys; look again at unresolved predictions of recently
        settled ones; once, at the first sweep, at every unresolved prediction whose
        lineage is known."""
        if self.pending:
            self.settle()
        if not self.swept:
            keys = self.unresolved()
            if keys:
                self.reload()
                self.resolve(keys, unresolved_only=True)
            self.swept = True
        self.recent = unexpired(self.recent, self.clock())
        if self.recent:
            recent = Keys()
            for _, keys in self.recent:
                recent.update(keys)
            # What a race leaves is a prediction the old dictionary could not resolve:
            # the unresolved rows alone, which the skip index on `resolved` finds cheaply.
            self.resolve(recent, unresolved_only=True)

    def settle(self) -> None:
        """Reload the dictionaries, then rewrite what the pending keys make stale."""
        self.reload()
        keys, self.pending = self.pending, Keys()
        now = self.clock()
        try:
            self.resolve(keys)
        except Exception:
            self.pending.update(keys)  # retried with the step, or by the next sweep
            raise
        self.recent.append((now, keys))

    def reload(self) -> None:
        start = self.clock()
        for name in DICTIONARIES:
            self.store.command(f"SYSTEM RELOAD DICTIONARY {name}")
        self.reloaded_at = self.clock()
        self.reload_seconds = self.reloaded_at - start

    def resolve(self, keys: Keys, unresolved_only: bool = False) -> int:
        """Rewrite the out-of-date attributions of ``keys``' predictions (or only of the
        unresolved ones); returns how many."""
        if unresolved_only and not self.any_unresolved():
            # The usual answer, and much cheaper to get than the subqueries of keys.stale().
            return 0
        where = keys.stale() + (" AND resolved = 0" if unresolved_only else "")
        # Usually none: lineage mostly comes before its predictions.
        count = self.store.query(
            f"SELECT count() FROM inferences WHERE {where}", settings=LARGE_QUERY
        )
        found = int(count.result_rows[0][0])
        if not found:
            return 0
        # A mutation rewrites only the parts holding such rows; it is rare (lineage that
        # arrives after its predictions) and waited for, so the next check sees it done.
        self.store.command(
            f"ALTER TABLE inferences UPDATE served_model = {SERVED}, "
            f"training_run = {TRAINED}, resolved = {TRAINED} != '' WHERE {where}",
            settings={**LARGE_QUERY, "mutations_sync": 1, "allow_nondeterministic_mutations": 1},
        )
        self.rewritten += found
        log.info("attributed %d predictions stored before their lineage", found)
        return found

    def any_unresolved(self) -> bool:
        """Whether any prediction is stored unresolved (read through the skip index on
        ``resolved``)."""
        found = self.store.query(
            "SELECT count() FROM (SELECT 1 FROM inferences WHERE resolved = 0 LIMIT 1)"
        )
        return bool(found.result_rows[0][0])

    def unresolved(self) -> Keys:
        """Model versions and deployments of unresolved predictions that the lineage stored
        so far can resolve (those still waiting for theirs are left alone)."""
        keys = Keys()
        for model, deployment in self.store.query(
            "SELECT DISTINCT model_node, deployment FROM inferences WHERE resolved = 0 AND "
            "(model_node IN (SELECT model_node FROM model_training) OR (model_node = '' AND "
            "deployment IN (SELECT deployment FROM deployments)))"
        ).result_rows:
            if model:
                keys.models.add(model)
            else:
                keys.deployments.add(deployment)
        return keys
