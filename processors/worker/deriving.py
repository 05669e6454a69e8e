"""The worker's derived state: attribution, model closures and tag impacts, kept up with ingest.

State derived from lineage catches up with the stored rows every ``DERIVE_SECONDS``
(:mod:`lineage_processors.derive.state`), on a thread and a store session of its own: beside
the inserts, never holding a batch back. Predictions need none: ClickHouse attributes them as
they are inserted, so the inference topic runs no step. An attribution sweep settles, every
``SWEEP_SECONDS``, what a rate-limited dictionary reload left pending.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from lineage_processors.derive.attribution import SWEEP_SECONDS, Attribution
from lineage_processors.derive.closures import extend_closures
from lineage_processors.derive.state import DERIVE_SECONDS, Derivation
from lineage_processors.derive.tag_impacts import propagate_tags
from lineage_processors.settings import WorkerSettings
from lineage_processors.store.connect import Store
from lineage_processors.worker.background import Background


class Deriving:
    """Derived state on ``derived``, a store session of its own, run on a thread of its own."""

    def __init__(self, derived: Store, settings: WorkerSettings) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="derive")
        self.attribution = Attribution(derived)
        self.derivation = Derivation(
            derived,
            [
                self.attribution.after_write,
                functools.partial(extend_closures, derived),
                functools.partial(propagate_tags, derived),
            ],
            topics=[settings.topic_events, settings.topic_openlineage],
            max_records=settings.derive_max_records,
        )

    def install(self, background: Background) -> None:
        """Run the derive loop and the attribution sweep as background tasks."""
        background.loop("derive", DERIVE_SECONDS)(self.derive)
        background.timer("attribution_sweep", SWEEP_SECONDS)(self.sweep)

    async def derive(self) -> float:
        """One derive run; returns the pause before the next."""
        # Runs start DERIVE_SECONDS apart, or at once after a run that took longer: a timer
        # would pause that long after every run, and in a backlog derived state would trail
        # the rows by a run and a pause rather than by a run.
        loop = asyncio.get_running_loop()
        started = loop.time()
        await loop.run_in_executor(self.executor, self.derivation.run)
        if self.derivation.behind:
            return 0.0
        return max(0.0, DERIVE_SECONDS - (loop.time() - started))

    async def sweep(self) -> None:
        """Settle what a rate-limited dictionary reload left pending, and predictions that
        raced a reload."""
        await asyncio.get_running_loop().run_in_executor(self.executor, self.attribution.sweep)
