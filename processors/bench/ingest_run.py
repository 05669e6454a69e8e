"""A bench's own topics, consumer group, store, port and worker, removed afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from lineage_collector import LineageClient
from lineage_processors.errors import ProcessorError
from lineage_processors.local import worker as local_worker
from lineage_processors.local.ports import free_ports
from lineage_processors.settings import WorkerSettings
from lineage_processors.worker.topics import ensure_topics, topic_names


@dataclass
class IngestRun:
    """A bench's own topics, consumer group, store and port, on the configured Kafka."""

    settings: WorkerSettings  # the bench's settings, Kafka bootstrap resolved
    kind: str  # "inferences" or "graph"
    client: LineageClient
    directory: Path

    @classmethod
    def create(cls, settings: WorkerSettings, kind: str) -> IngestRun:
        tag = uuid.uuid4().hex[:8]
        directory = (settings.state_dir / "bench" / tag).resolve()
        run = settings.replace(
            topic_events=f"bench.{tag}.events",
            topic_inferences=f"bench.{tag}.inferences",
            topic_openlineage=f"bench.{tag}.openlineage",
            topic_dlq=f"bench.{tag}.dlq",
            consumer_group=f"bench-{tag}",
            state_dir=directory,
            clickhouse_url="",
            worker_port=free_ports(1)[0],
            subject_key=settings.subject_key.reveal() or "bench-key-" + "0" * 32,
            kafka_bootstrap=settings.resolve_bootstrap(),
            log_level="WARNING",
        )
        ensure_topics(run, run.kafka_bootstrap)
        return cls(run, kind, LineageClient.from_settings(run, namespace="bench"), directory)

    @property
    def topic(self) -> str:
        return (
            self.settings.topic_inferences
            if self.kind == "inferences"
            else self.settings.topic_events
        )

    @property
    def table(self) -> str:
        """The table holding one row per event of this kind."""
        return "inferences" if self.kind == "inferences" else "events_raw"

    def start_worker(self) -> local_worker.WorkerStatus:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
        return local_worker.start(self.settings, {**env, **self.settings.to_env()})

    def check_worker(self) -> None:
        """Raise if the worker is gone: waiting on it would never end."""
        if not local_worker.status(self.settings).running:
            log = self.settings.worker_state_dir / "worker.log"
            raise ProcessorError(f"the bench's worker stopped; see {log}")

    def close(self, keep: bool = False) -> None:
        """Stop the worker and remove what the run left (its store and topics) unless ``keep``."""
        local_worker.stop(self.settings)
        self.client.close()
        if keep:
            return
        admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap})
        with contextlib.suppress(Exception):
            for future in admin.delete_topics(topic_names(self.settings)).values():
                future.result(10)
        shutil.rmtree(self.directory, ignore_errors=True)
