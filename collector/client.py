"""The SDK entry point: :class:`LineageClient` turns typed events into Avro records on Kafka.

Emitting never waits for the network: records are handed to an idempotent producer whose
failures fall back to a disk spool. A bad event raises :class:`InvalidEventError` naming the
field at the emit call, so mistakes show up where they are made.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from fastavro.validation import ValidationError, validate

from lineage_collector.catalog import EventSchema, SchemaCatalog, load_catalog
from lineage_collector.config import Settings
from lineage_collector.delivery import EventProducer
from lineage_collector.errors import InvalidEventError, SchemaError
from lineage_collector.events import (
    DatasetRef,
    DatasetVersion,
    Deployment,
    Event,
    Inference,
    InputRef,
    SourceExtraction,
    SubjectLinks,
    Tag,
    TrainingRun,
    TransformationRun,
)
from lineage_collector.inference_log import InferenceLogger
from lineage_collector.registry import SchemaRegistryClient
from lineage_collector.security import redact_in_logs
from lineage_collector.steps import StepSpec
from lineage_collector.subjects import Pseudonymizer
from lineage_collector.wire import encode_body, frame_confluent, frame_single_object

# Subject links are sent in batches of this many pseudonyms per event, far below any size limit.
SUBJECT_BATCH = 5000
PSEUDONYM_CACHE = 100_000


class LineageClient:
    """Emit lineage events to Kafka.

    >>> with LineageClient.from_settings(Settings.from_env(), namespace="ml-platform") as lc:
    ...     lc.emit_training_run("intent-classifier", "3.4.2",
    ...                          [DatasetRef("warehouse/customers", "v12", "train")])
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        topic_events: str = "lineage.events",
        topic_inferences: str = "lineage.inferences",
        producer_name: str = "lineage-sdk",
        namespace: str = "default",
        producer_config: dict[str, Any] | None = None,
        catalog: SchemaCatalog | None = None,
        registry_url: str = "",
        subject_key: str = "",
        spool_dir: Path | None = None,
        spool_max_bytes: int = 1 << 30,
        max_event_bytes: int = 1 << 20,
    ) -> None:
        self._catalog = catalog or load_catalog()
        self.topics = {"events": topic_events, "inferences": topic_inferences}
        self.producer_name = producer_name
        self.namespace = namespace
        self.max_event_bytes = max_event_bytes
        self._subject_key = subject_key
        self._pseudonymizer: Pseudonymizer | None = None
        self._pseudonyms: dict[str, str] = {}
        self._registry: SchemaRegistryClient | None = None
        self._schema_ids: dict[str, int] = {}
        if registry_url:
            # Registered up front so that emit never waits for the registry. Subjects follow
            # the record-name strategy: several event types share one topic.
            self._registry = SchemaRegistryClient(registry_url)
            for schema in self._catalog:
                self._schema_ids[schema.name] = self._registry.register(
                    schema.name, schema.expanded
                )
        self._producer = EventProducer(
            bootstrap, producer_config, spool_dir=spool_dir, spool_max_bytes=spool_max_bytes
        )

    @classmethod
    def from_settings(cls, settings: Settings, namespace: str = "default") -> LineageClient:
        """A client for the Kafka, topics, registry and spool named in ``settings``.

        Kafka security (TLS, SASL) comes from the settings too, and their secrets are masked
        in every log line of the process from then on.
        """
        redact_in_logs(settings.secret_values())
        return cls(
            settings.resolve_bootstrap(),
            producer_config=settings.kafka_security().librdkafka(),
            topic_events=settings.topic_events,
            topic_inferences=settings.topic_inferences,
            producer_name=settings.producer_name,
            namespace=namespace,
            registry_url=settings.schema_registry_url,
            subject_key=settings.subject_key.reveal(),
            spool_dir=settings.effective_spool_dir,
            spool_max_bytes=settings.spool_max_bytes,
            max_event_bytes=settings.max_event_bytes,
        )

    @property
    def catalog(self) -> SchemaCatalog:
        return self._catalog

    @property
    def producer(self) -> EventProducer:
        return self._producer

    @property
    def pseudonymizer(self) -> Pseudonymizer:
        """The subject pseudonymizer; raises ConfigError if no usable key is configured."""
        if self._pseudonymizer is None:
            self._pseudonymizer = Pseudonymizer(self._subject_key)
        return self._pseudonymizer

    def pseudonym(self, subject_id: str) -> str:
        """The pseudonym events carry for ``subject_id``."""
        cached = self._pseudonyms.get(subject_id)
        if cached is None:
            # The same people come back again and again in prediction logs; HMAC is the
            # dearest step of logging one, so remember recent answers (bounded).
            if len(self._pseudonyms) >= PSEUDONYM_CACHE:
                self._pseudonyms.clear()
            cached = self._pseudonyms[subject_id] = self.pseudonymizer.pseudonym(subject_id)
        return cached

    # --- encoding -----------------------------------------------------------------------

    def envelope(self, event_id: str | None, event_time: datetime | None) -> dict[str, Any]:
        eid = event_id or str(uuid.uuid4())
        try:
            uuid.UUID(eid)
        except ValueError:
            raise InvalidEventError(f"field 'event_id' is {eid!r}, not a UUID") from None
        when = event_time or datetime.now(UTC)
        if when.tzinfo is None:
            raise InvalidEventError(
                "field 'event_time' must be timezone-aware (e.g. datetime.now(UTC))"
            )
        return {
            "event_id": eid,
            "event_time": when,
            "producer": self.producer_name,
            "namespace": self.namespace,
        }

    def encode(self, schema: EventSchema, record: dict[str, Any]) -> bytes:
        """Encode a full record in the configured wire format, enforcing the size limit."""
        try:
            body = encode_body(schema, record)
        except SchemaError:
            raise InvalidEventError(_explain_mismatch(schema, record)) from None
        try:
            return self.frame(schema, body)
        except InvalidEventError as exc:
            # Say which field made it big: the record is at hand here.
            raise InvalidEventError(
                f"{exc}; {_largest_field(record)}: split the event or trim that field"
            ) from None

    def frame(self, schema: EventSchema, body: bytes) -> bytes:
        """Put an already encoded Avro body in the configured framing, enforcing the size limit."""
        if self._registry is not None:
            value = frame_confluent(self._schema_ids[schema.name], body)
        else:
            value = frame_single_object(schema, body)
        if len(value) > self.max_event_bytes:
            raise InvalidEventError(
                f"{schema.short_name} is {len(value)} bytes encoded, over the limit of "
                f"{self.max_event_bytes} (LINEAGE_MAX_EVENT_BYTES)"
            )
        return value

    def send(self, topic_kind: str, key: str, value: bytes) -> None:
        self._producer.send(self.topics[topic_kind], key.encode(), value)

    # --- emitting -----------------------------------------------------------------------

    def emit(
        self, event: Event, *, event_id: str | None = None, event_time: datetime | None = None
    ) -> str:
        """Validate, encode and enqueue ``event``; returns its ``event_id``. Never blocks on I/O."""
        event.validate()
        record = {**self.envelope(event_id, event_time), **event.fields()}
        if isinstance(event, SourceExtraction) and record["extraction_time"] is None:
            record["extraction_time"] = record["event_time"]
        value = self.encode(self._catalog.by_name(event.SCHEMA), record)
        self.send(event.TOPIC, event.key(), value)
        return str(record["event_id"])

    def emit_source_extraction(
        self,
        source: str,
        output: DatasetRef,
        *,
        source_system: str,
        uri: str,
        record_count: int,
        **details: Any,
    ) -> str:
        """Record that ``record_count`` records of ``source`` were extracted into ``output``."""
        return self.emit(
            SourceExtraction(source, source_system, uri, record_count, output, **details)
        )

    def emit_transformation(self, job: str, **details: Any) -> str:
        """Record one event of a transformation run (see :class:`TransformationRun`)."""
        return self.emit(TransformationRun(job, **details))

    def emit_dataset_version(
        self, dataset: str, version: str, *, content_hash: str, row_count: int, **details: Any
    ) -> str:
        """Record a dataset version and what it holds."""
        return self.emit(DatasetVersion(dataset, version, content_hash, row_count, **details))

    def emit_subject_links(self, node: str, subject_ids: Iterable[str]) -> list[str]:
        """Record that ``node`` holds records of these people; ids are pseudonymised here."""
        pseudo = self.pseudonymizer
        batch: list[str] = []
        emitted = []
        for subject_id in subject_ids:
            batch.append(pseudo.pseudonym(subject_id))
            if len(batch) == SUBJECT_BATCH:
                emitted.append(self.emit(SubjectLinks(node, pseudo.key_id, batch)))
                batch = []
        if batch:
            emitted.append(self.emit(SubjectLinks(node, pseudo.key_id, batch)))
        return emitted

    def emit_training_run(
        self, model: str, version: str, datasets: list[DatasetRef], **details: Any
    ) -> str:
        """Record that ``model@version`` was trained on ``datasets``."""
        return self.emit(TrainingRun(model, version, datasets, **details))

    def emit_deployment(
        self,
        deployment: str,
        *,
        environment: str,
        model: str,
        model_version: str,
        valid_from: datetime,
        valid_until: datetime | None = None,
    ) -> str:
        """Record that a model version serves as ``deployment``."""
        return self.emit(
            Deployment(deployment, environment, model, model_version, valid_from, valid_until)
        )

    def emit_inference(
        self,
        inference_id: str,
        *,
        subject_id: str | None = None,
        inputs: Iterable[InputRef] = (),
        event_time: datetime | None = None,
        **details: Any,
    ) -> str:
        """Record one prediction. For high volume use :meth:`inference_logger` instead."""
        subject = self.pseudonym(subject_id) if subject_id is not None else None
        event = Inference(inference_id, inputs=tuple(inputs), subject=subject, **details)
        return self.emit(event, event_time=event_time)

    def emit_tag(self, node: str, tag: str, **details: Any) -> str:
        """Tag a node (pii, bias, corrupted-labels, ...); the tag propagates downstream."""
        return self.emit(Tag(node, tag, **details))

    def step(
        self,
        job: str,
        *,
        kind: str = "OTHER",
        inputs: Iterable[DatasetRef] = (),
        outputs: Iterable[DatasetRef] = (),
        parameters: Mapping[str, Any] | None = None,
        code_version: str | None = None,
        **details: Any,
    ) -> StepSpec:
        """A pipeline step, as a context manager or a decorator.

        It emits STARTED on entry and COMPLETED (or FAILED with the error message) on exit,
        with the parameters, inputs and outputs recorded on the way::

            with lineage.step("etl/clean", kind="CLEAN", inputs=[raw]) as run:
                run.set_parameter("drop_nulls", True)
                run.add_output(DatasetRef("warehouse/clean", "v4"))
        """
        return StepSpec(
            self,
            job,
            kind=kind,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            parameters=dict(parameters or {}),
            code_version=code_version,
            details=details,
        )

    def inference_logger(self, *, batch_size: int = 2000, linger: float = 0.05) -> InferenceLogger:
        """A fast, non-blocking logger of predictions (see :class:`InferenceLogger`)."""
        return InferenceLogger(self, batch_size=batch_size, linger=linger)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait until Kafka has every emitted event; returns how many wait in the spool."""
        return self._producer.flush(timeout)

    def close(self) -> None:
        """Flush and release the producer."""
        self._producer.close()

    def __enter__(self) -> LineageClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _explain_mismatch(schema: EventSchema, record: dict[str, Any]) -> str:
    """Which field does not fit, in fastavro's words (it names the field's path)."""
    try:
        validate(record, schema.parsed, raise_errors=True)
    except ValidationError as exc:
        problems = "; ".join(str(e) for e in exc.errors[:3])
        return f"{schema.short_name}: {problems}"
    return f"{schema.short_name}: record does not fit the schema"


def _largest_field(record: dict[str, Any]) -> str:
    sizes = {k: len(json.dumps(v, default=str)) for k, v in record.items()}
    biggest = max(sizes, key=lambda k: sizes[k])
    return f"field {biggest!r} is the largest (~{sizes[biggest]} bytes)"
