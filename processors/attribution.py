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
  take at most 1/RELOAD_SHARE of the store thread; a batch arriving sooner leaves its keys
  pending for the periodic :meth:`Attribution.sweep`.
- The sweep also checks settled keys again for GRACE_SECONDS: a prediction another writer
  inserted while the dictionary was being reloaded got the old answer. Its first run looks
  at every unresolved prediction, for a worker stopped between a write and this step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from processors.mapping import DEPLOYMENT_COLUMNS, MODEL_TRAINING_COLUMNS, RowBatch
from processors.store.connect import Store
from processors.walks import LARGE_QUERY, strings

log = logging.getLogger(__name__)

DICTIONARIES = ("deployment_models", "model_training_dict")
# Reloads may take at most a fifth of the store thread's time.
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


def stale(models: str, deployments: str) -> str:
    """Predictions of the ``models`` and ``deployments`` arrays (SQL expressions) whose stored
    attribution is out of date.

    Both arms follow the sort key of inferences: model first, and deployment-only
    predictions sit under model '' sorted by deployment.
    """
    return (
        f"(model_node IN {models} OR (model_node = '' AND "
        f"(deployment IN {deployments} OR served_model IN {models}))) "
        f"AND (served_model != {SERVED} OR training_run != {TRAINED})"
    )


_MODEL = MODEL_TRAINING_COLUMNS.index("model_node")
_DEPLOYMENT = DEPLOYMENT_COLUMNS.index("deployment")


@dataclass
class Keys:
    """Model versions and deployments whose lineage changed."""

    models: set[str] = field(default_factory=set)
    deployments: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.models or self.deployments)

    def update(self, other: Keys) -> None:
        self.models |= other.models
        self.deployments |= other.deployments


def changed_keys(batch: RowBatch) -> Keys:
    return Keys(
        {r[_MODEL] for r in batch.model_training}, {r[_DEPLOYMENT] for r in batch.deployments}
    )


def reload_due(now: float, reloaded_at: float, reload_seconds: float) -> bool:
    """Whether a reload now keeps reloads within their share of the store thread."""
    return now - reloaded_at >= RELOAD_SHARE * reload_seconds


def expire(recent: dict[str, float], now: float) -> set[str]:
    """Drop keys settled more than GRACE_SECONDS ago; return those left."""
    for key in [k for k, at in recent.items() if now - at > GRACE_SECONDS]:
        del recent[key]
    return set(recent)


class Attribution:
    """Keeps predictions attributed; every method runs on the store thread."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self.pending = Keys()
        self.recent_models: dict[str, float] = {}
        self.recent_deployments: dict[str, float] = {}
        self.reloaded_at = float("-inf")
        self.reload_seconds = 0.0
        self.swept = False
        self.rewritten = 0  # predictions rewritten, for tests and logs

    def after_write(self, batch: RowBatch) -> None:
        """After-write step: attribute what a batch of training or deployment lineage
        makes attributable."""
        keys = changed_keys(batch)
        if not keys:
            return
        self.pending.update(keys)
        if reload_due(self.clock(), self.reloaded_at, self.reload_seconds):
            self.settle()

    def sweep(self) -> None:
        """Periodic: settle pending keys, check recently settled ones again."""
        if not self.swept:
            self.pending.update(self.unresolved())
            self.swept = True
        if self.pending:
            self.settle()
            return
        now = self.clock()
        recent = Keys(expire(self.recent_models, now), expire(self.recent_deployments, now))
        if recent:
            self.resolve(recent)

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
        self.recent_models.update(dict.fromkeys(keys.models, now))
        self.recent_deployments.update(dict.fromkeys(keys.deployments, now))

    def reload(self) -> None:
        start = self.clock()
        for name in DICTIONARIES:
            self.store.command(f"SYSTEM RELOAD DICTIONARY {name}")
        self.reloaded_at = self.clock()
        self.reload_seconds = self.reloaded_at - start

    def resolve(self, keys: Keys) -> int:
        """Rewrite the out-of-date attributions of ``keys``' predictions; returns how many."""
        models, deployments = strings(sorted(keys.models)), strings(sorted(keys.deployments))
        # Usually none (lineage comes first): one look, each array literal parsed once.
        count = self.store.query(
            f"WITH {models} AS models, {deployments} AS deployments "
            f"SELECT count() FROM inferences WHERE {stale('models', 'deployments')}",
            settings=LARGE_QUERY,
        )
        found = int(count.result_rows[0][0])
        if not found:
            return 0
        # A mutation rewrites only the parts holding such rows; it is rare (lineage that
        # arrives after its predictions) and waited for, so the next check sees it done.
        self.store.command(
            f"ALTER TABLE inferences UPDATE served_model = {SERVED}, "
            f"training_run = {TRAINED}, resolved = {TRAINED} != '' "
            f"WHERE {stale(models, deployments)}",
            settings={**LARGE_QUERY, "mutations_sync": 1, "allow_nondeterministic_mutations": 1},
        )
        self.rewritten += found
        log.info("attributed %d predictions stored before their lineage", found)
        return found

    def unresolved(self) -> Keys:
        """Model versions and deployments of every unresolved prediction."""
        keys = Keys()
        for model, deployment in self.store.query(
            "SELECT DISTINCT model_node, deployment FROM inferences WHERE resolved = 0"
        ).result_rows:
            if model:
                keys.models.add(model)
            else:
                keys.deployments.add(deployment)
        return keys
