"""A fast, non-blocking logger of predictions.

``log()`` only checks its arguments, pseudonymises the subject and appends a tuple to a queue;
a background thread groups queued predictions by model version, encodes each group as one
``InferenceBatch`` record and hands it to the producer. One Kafka record per batch is what
makes production inference volumes affordable, for the SDK and for the worker alike.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType

from lineage_collector import ids
from lineage_collector.emitter import BatchSender
from lineage_collector.errors import InvalidEventError, LineageError, NodeIdError
from lineage_collector.events import InputRef
from lineage_collector.inference_codec import Item, encode_batch_body
from lineage_collector.log_hygiene import sdk_logger

log = sdk_logger(__name__)
BATCH_SCHEMA = "lineage.events.InferenceBatch"

# (key, model, version, deployment, item): the item is what the batch encoder takes.
_Queued = tuple[str, str | None, str | None, str | None, Item]


class InferenceLogger:
    """Log predictions at high rate without waiting on anything.

    >>> logger = client.inference_logger()
    >>> logger.log("pred-1", model="intent-classifier", model_version="3.4.2",
    ...            output="billing", subject_id="customer-42")
    >>> logger.close()   # or use it as a context manager
    """

    def __init__(self, client: BatchSender, *, batch_size: int = 2000, linger: float = 0.05):
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
                key = ids.served_by(model, version, deployment)
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
        refs = [i.record() for i in inputs] if inputs else ()
        self._queue.append(
            (key, model, model_version, deployment, (inference_id, millis, refs, output, subject))
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
        for one in taken:
            groups.setdefault(one[0], []).append(one)
        for key, group in groups.items():
            model, version, deployment = group[0][1], group[0][2], group[0][3]
            items = [q[4] for q in group]
            for start in range(0, len(items), self.batch_size):
                self._send_chunk(
                    key, model, version, deployment, items[start : start + self.batch_size]
                )

    def _send_chunk(
        self,
        key: str,
        model: str | None,
        version: str | None,
        deployment: str | None,
        items: list[Item],
    ) -> None:
        client = self.client
        body = encode_batch_body(
            str(uuid.uuid4()),
            items[-1][1],
            client.producer_name,
            client.namespace,
            model,
            version,
            deployment,
            items,
        )
        try:
            value = client.frame(self._schema, body)
        except InvalidEventError as exc:
            if len(items) > 1:  # big inputs lists: halve the batch until it fits
                half = len(items) // 2
                self._send_chunk(key, model, version, deployment, items[:half])
                self._send_chunk(key, model, version, deployment, items[half:])
                return
            self.dropped += 1
            log.error("prediction %s of %s not logged: %s", items[0][0], key, exc)
            return
        try:
            client.send("inferences", key, value)
            self.batches += 1
        except LineageError as exc:
            self.dropped += len(items)
            log.error("%d predictions of %s not logged: %s", len(items), key, exc)

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
