"""A fast, non-blocking logger of predictions.

``log()`` only checks its arguments, pseudonymises the subject and appends a tuple to a queue;
a background thread groups queued predictions by model version, encodes each group as one
``InferenceBatch`` record and hands it to the producer. One Kafka record per batch is what
makes production inference volumes affordable, for the SDK and for the worker alike.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from collector import ids
from collector.errors import InvalidEventError, LineageError, NodeIdError
from collector.events import InputRef

if TYPE_CHECKING:
    from collector.client import LineageClient

log = logging.getLogger(__name__)
BATCH_SCHEMA = "lineage.events.InferenceBatch"

# (inference_id, key, model, version, deployment, inputs, output, subject, millis)
_Queued = tuple[
    str, str, str | None, str | None, str | None, list[dict[str, Any]], str | None, str | None, int
]


def _uuids(count: int) -> list[str]:
    """``count`` random (version 4) UUID strings, from one urandom call: uuid4() is slow."""
    raw = bytearray(os.urandom(16 * count))
    out = []
    for i in range(0, 16 * count, 16):
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80
        h = raw[i : i + 16].hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


class InferenceLogger:
    """Log predictions at high rate without waiting on anything.

    >>> logger = client.inference_logger()
    >>> logger.log("pred-1", model="intent-classifier", model_version="3.4.2",
    ...            output="billing", subject_id="customer-42")
    >>> logger.close()   # or use it as a context manager
    """

    def __init__(self, client: LineageClient, *, batch_size: int = 2000, linger: float = 0.05):
        self.client = client
        self.batch_size = batch_size
        self.linger = linger
        self._schema = client.catalog.by_name(BATCH_SCHEMA)
        self._queue: collections.deque[_Queued] = collections.deque()
        self._keys: dict[tuple[str | None, str | None, str | None], str] = {}
        self._wake = threading.Event()
        self._closed = False
        self.logged = 0
        self.batches = 0
        self.dropped = 0  # predictions refused at encode time (logged with the reason)
        self._thread = threading.Thread(target=self._run, name="lineage-inferences", daemon=True)
        self._thread.start()

    def _key(self, model: str | None, version: str | None, deployment: str | None) -> str:
        cache_key = (model, version, deployment)
        key = self._keys.get(cache_key)
        if key is None:
            try:
                if model and version:
                    key = ids.model_id(model, version)
                elif deployment:
                    key = ids.deployment_id(deployment)
                else:
                    raise InvalidEventError(
                        "Inference: give model and model_version, or deployment"
                    )
            except NodeIdError as exc:
                raise InvalidEventError(f"Inference: {exc}") from None
            self._keys[cache_key] = key
        return key

    def log(
        self,
        inference_id: str,
        *,
        model: str | None = None,
        model_version: str | None = None,
        deployment: str | None = None,
        inputs: Iterable[InputRef] = (),
        output: str | None = None,
        subject_id: str | None = None,
        event_time: datetime | None = None,
    ) -> None:
        """Queue one prediction. Raises :class:`InvalidEventError` only for a malformed call."""
        if self._closed:
            raise InvalidEventError("the inference logger is closed")
        if not inference_id or not isinstance(inference_id, str):
            raise InvalidEventError("Inference: field 'inference_id' is required")
        key = self._key(model, model_version, deployment)
        subject = self.client.pseudonym(subject_id) if subject_id is not None else None
        millis = int((event_time.timestamp() if event_time else time.time()) * 1000)
        refs = [i.record() for i in inputs]
        self._queue.append(
            (inference_id, key, model, model_version, deployment, refs, output, subject, millis)
        )
        self.logged += 1
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.linger)
            self._wake.clear()
            self._drain()
            if self._closed and not self._queue:
                return

    def _drain(self) -> None:
        while self._queue:
            taken = []
            try:
                for _ in range(self.batch_size * 4):
                    taken.append(self._queue.popleft())
            except IndexError:
                pass
            self._send(taken)

    def _send(self, taken: list[_Queued]) -> None:
        groups: dict[str, list[_Queued]] = {}
        for item in taken:
            groups.setdefault(item[1], []).append(item)
        client = self.client
        producer_name, namespace = client.producer_name, client.namespace
        for key, items in groups.items():
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                event_ids = _uuids(len(chunk) + 1)
                inferences = [
                    {
                        "event_id": eid,
                        "event_time": it[8],
                        "producer": producer_name,
                        "namespace": namespace,
                        "inference_id": it[0],
                        "model": it[2],
                        "model_version": it[3],
                        "deployment": it[4],
                        "inputs": it[5],
                        "output": it[6],
                        "subject": it[7],
                    }
                    for eid, it in zip(event_ids, chunk, strict=False)
                ]
                record = {
                    "event_id": event_ids[-1],
                    "event_time": chunk[-1][8],
                    "producer": producer_name,
                    "namespace": namespace,
                    "inferences": inferences,
                }
                try:
                    value = client.encode(self._schema, record)
                    client.send("inferences", key, value)
                    self.batches += 1
                except LineageError as exc:
                    self.dropped += len(chunk)
                    log.error("%d predictions of %s not logged: %s", len(chunk), key, exc)

    def flush(self, timeout: float = 30.0) -> int:
        """Send everything queued and wait for Kafka; returns events waiting in the spool."""
        self._wake.set()
        deadline = time.monotonic() + timeout
        while self._queue and time.monotonic() < deadline:
            time.sleep(0.005)
        self._drain()
        return self.client.flush(max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting predictions, send the rest, and wait for Kafka."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        self.client.flush(timeout)

    def __enter__(self) -> InferenceLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
