"""Pipeline steps as context managers and decorators that emit their own lineage.

A step emits a ``TransformationRun`` STARTED on entry and COMPLETED or FAILED on exit, with
the parameters, inputs and outputs gathered while it ran. Lineage must never break the work it
observes: problems emitting at exit are logged, and the step's own exception is re-raised
untouched.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar, cast

from lineage_collector.emitter import Emitter
from lineage_collector.errors import LineageError
from lineage_collector.events import DatasetRef, TransformationRun
from lineage_collector.log_hygiene import sdk_logger

log = sdk_logger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class StepRun:
    """One execution of a step: add inputs, outputs and parameters as they become known."""

    spec: StepSpec
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)

    def add_input(self, ref: DatasetRef) -> None:
        self.inputs.append(ref)

    def add_output(self, ref: DatasetRef) -> None:
        self.outputs.append(ref)

    def set_parameter(self, name: str, value: Any) -> None:
        self.parameters[name] = value

    def event(self, status: str, error: str | None = None) -> TransformationRun:
        s = self.spec
        return TransformationRun(
            s.job,
            kind=s.kind,
            inputs=tuple(self.inputs),
            outputs=tuple(self.outputs),
            parameters=dict(self.parameters),
            code_version=s.code_version,
            run_id=self.run_id,
            status=status,
            error_message=error,
            **s.details,
        )


class StepSpec:
    """What :meth:`LineageClient.step` returns: use it with ``with`` or as a decorator."""

    def __init__(
        self,
        client: Emitter,
        job: str,
        *,
        kind: str,
        inputs: tuple[DatasetRef, ...],
        outputs: tuple[DatasetRef, ...],
        parameters: dict[str, Any],
        code_version: str | None,
        details: dict[str, Any],
    ) -> None:
        self.client = client
        self.job = job
        self.kind = kind
        self.inputs = inputs
        self.outputs = outputs
        self.parameters = parameters
        self.code_version = code_version
        self.details = details
        self._active: list[StepRun] = []
        # Mistakes in the step's declaration surface at once, where the developer wrote them.
        self._new_run().event("STARTED").validate()

    def _new_run(self) -> StepRun:
        return StepRun(
            self,
            inputs=list(self.inputs),
            outputs=list(self.outputs),
            parameters=dict(self.parameters),
        )

    def __enter__(self) -> StepRun:
        run = self._new_run()
        self._active.append(run)
        self._emit(run, "STARTED")
        return run

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        run = self._active.pop()
        if exc is None:
            self._emit(run, "COMPLETED")
        else:
            self._emit(run, "FAILED", f"{type(exc).__name__}: {exc}")

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return cast(F, wrapper)

    def _emit(self, run: StepRun, status: str, error: str | None = None) -> None:
        try:
            self.client.emit(run.event(status, error))
        except LineageError as exc:
            log.error("lineage of step %s (run %s) not recorded: %s", self.job, run.run_id, exc)
