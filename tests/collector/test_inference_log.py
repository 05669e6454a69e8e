"""The inference logger on a stand-in client: predictions grouped per model into batches,
subjects pseudonymised, what cannot be sent counted and said."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from lineage_collector import InputRef
from lineage_collector.catalog import EventSchema, SchemaCatalog, load_catalog
from lineage_collector.errors import DeliveryError, InvalidEventError
from lineage_collector.inference_log import InferenceLogger
from lineage_collector.wire import decode, frame_single_object

CATALOG = load_catalog()


class FakeSender:
    """A :class:`~lineage_collector.emitter.BatchSender` that keeps what it is given."""

    producer_name = "tests"
    namespace = "ml"

    def __init__(self, max_bytes: int = 1 << 20) -> None:
        self.max_bytes = max_bytes
        self.sent: list[tuple[str, str, bytes]] = []
        self.flushed = 0
        self.refuse = False

    @property
    def catalog(self) -> SchemaCatalog:
        return CATALOG

    def pseudonym(self, subject_id: str) -> str:
        return f"pseudonym-of-{len(subject_id)}"

    def frame(self, schema: EventSchema, body: bytes) -> bytes:
        value = frame_single_object(schema, body)
        if len(value) > self.max_bytes:
            raise InvalidEventError(f"{len(value)} bytes, over the limit")
        return value

    def send(self, topic_kind: str, key: str, value: bytes) -> None:
        if self.refuse:
            raise DeliveryError("the spool is full")
        self.sent.append((topic_kind, key, value))

    def flush(self, timeout: float = 30.0) -> int:
        self.flushed += 1
        return 0

    def batches(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for topic_kind, key, value in self.sent:
            assert topic_kind == "inferences"
            schema, record = decode(CATALOG, value)
            assert schema.name == "lineage.events.InferenceBatch"
            out.append((key, record))
        return out


def test_predictions_of_one_model_travel_as_one_batch() -> None:
    sender = FakeSender()
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with InferenceLogger(sender) as logger:
        logger.log(
            "pred-1",
            model="intent",
            model_version="3.4.2",
            inputs=[InputRef("chunk", "doc-7#3", "dataset:kb@v2")],
            output="billing",
            subject_id="customer-42",
            event_time=when,
        )
        logger.log("pred-2", model="intent", model_version="3.4.2")
        logger.log("pred-3", deployment="prod/intent-api")
    assert (logger.logged, logger.batches, logger.dropped) == (3, 2, 0)
    assert sender.flushed == 1
    by_key = dict(sender.batches())
    batch = by_key["model:intent@3.4.2"]
    assert (batch["producer"], batch["namespace"]) == ("tests", "ml")
    assert (batch["model"], batch["model_version"], batch["deployment"]) == (
        "intent",
        "3.4.2",
        None,
    )
    first, second = batch["inferences"]
    assert first["inference_id"] == "pred-1" and first["event_time"] == when
    assert first["inputs"] == [{"kind": "chunk", "ref": "doc-7#3", "dataset": "dataset:kb@v2"}]
    assert (first["output"], first["subject"]) == ("billing", "pseudonym-of-11")
    assert (second["inputs"], second["subject"]) == ([], None)
    assert [i["inference_id"] for i in by_key["deployment:prod/intent-api"]["inferences"]] == [
        "pred-3"
    ]


def test_batches_are_no_larger_than_the_batch_size() -> None:
    sender = FakeSender()
    with InferenceLogger(sender, batch_size=3) as logger:
        for i in range(7):
            logger.log(f"pred-{i}", model="m", model_version="1")
    sizes = [len(record["inferences"]) for _, record in sender.batches()]
    assert sum(sizes) == 7 and max(sizes) <= 3
    ids = [i["inference_id"] for _, r in sender.batches() for i in r["inferences"]]
    assert ids == [f"pred-{i}" for i in range(7)]  # in the order logged


def test_a_batch_over_the_size_limit_is_halved_and_a_lone_giant_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = FakeSender(max_bytes=600)
    with (
        caplog.at_level(logging.ERROR, logger="lineage_collector.inference_log"),
        InferenceLogger(sender) as logger,
    ):
        for i in range(8):
            logger.log(f"pred-{i}", model="m", model_version="1", output="x" * 60)
        logger.log("giant", model="m", model_version="1", output="x" * 1000)
    ids = [i["inference_id"] for _, r in sender.batches() for i in r["inferences"]]
    assert ids == [f"pred-{i}" for i in range(8)]
    assert len(sender.sent) > 1
    assert logger.dropped == 1
    assert "prediction giant of model:m@1 not logged" in caplog.text


def test_what_the_producer_refuses_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    sender = FakeSender()
    sender.refuse = True
    with (
        caplog.at_level(logging.ERROR, logger="lineage_collector.inference_log"),
        InferenceLogger(sender) as logger,
    ):
        logger.log("a", model="m", model_version="1")
        logger.log("b", model="m", model_version="1")
    assert (logger.batches, logger.dropped) == (0, 2)
    assert "2 predictions of model:m@1 not logged: the spool is full" in caplog.text


def test_a_malformed_call_is_refused_at_once() -> None:
    logger = InferenceLogger(FakeSender())
    with pytest.raises(InvalidEventError, match="field 'inference_id' is required"):
        logger.log("", model="m", model_version="1")
    with pytest.raises(InvalidEventError, match="give model and model_version, or deployment"):
        logger.log("p", model="m")
    logger.close()
    with pytest.raises(InvalidEventError, match="the inference logger is closed"):
        logger.log("p", model="m", model_version="1")
    assert logger.logged == 0
